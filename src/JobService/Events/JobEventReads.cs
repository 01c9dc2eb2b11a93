using System.Data.Common;
using System.Threading.Channels;
using JobService.Api;
using JobService.Data;
using JobService.Transitions;
using static JobService.Transitions.JobRow; // its column readers: Text, Utc

namespace JobService.Events;

/// <summary>
/// The reads of this node's job streams (GET /jobs/{id}/events), in batches: the streams poked
/// while a read was under way are read together in the next, in one statement on PostgreSQL (one
/// round trip) and on one connection on SQLite. A watcher of a streaming job reads at each of its
/// commits: 300 watched jobs made ~2,000 reads a second, each its own round trip, and the watchers
/// cost the service more CPU than the jobs did (docs/benchmarks.md). A lone read goes at once.
/// </summary>
public sealed class JobEventReads(JobsConnections connections, IJobDriver driver, ILogger<JobEventReads> log) : IDisposable
{
    /// <summary>Events per stream per read: a stream that gets this many reads again at once.</summary>
    public const int Batch = 500;
    // Streams per read: a batch's rows (up to Batch a stream) are all held until each stream has its share.
    const int MaxStreams = 200;
    const string EventColumns = "e.job_id, e.seq, e.kind, e.level, e.message, e.data, e.created_at";
    // One job: its events after the stream's last, then the job (read after them: never older).
    static readonly string OneJob = $"SELECT {EventColumns} FROM job_events AS e WHERE e.job_id = @id AND e.seq > @after ORDER BY e.seq LIMIT {Batch};\n{JobById.Any}";
    // Many jobs: each stream's events, numbered by its place in the lists, then the jobs.
    static readonly string ManyJobs = $"""
        SELECT {EventColumns}, r.n FROM unnest(@ids, @afters) WITH ORDINALITY AS r(job_id, last_seq, n)
        CROSS JOIN LATERAL (
            SELECT * FROM job_events AS e WHERE e.job_id = r.job_id AND e.seq > r.last_seq ORDER BY e.seq LIMIT {Batch}) AS e
        ORDER BY r.n, e.seq;
        SELECT {JobById.Columns} FROM jobs WHERE id = ANY(@ids)
        """;

    readonly Channel<Read> _queue = Channel.CreateUnbounded<Read>(new UnboundedChannelOptions { SingleReader = true });
    int _started;

    sealed record Read(Guid Job, long After, CancellationToken Ct, TaskCompletionSource<(List<JobEvent> Events, Job? Job)> Done);

    /// <summary>Up to <see cref="Batch"/> events of the job after seq <paramref name="after"/>, and the job as it stands then (null: deleted).</summary>
    public Task<(List<JobEvent> Events, Job? Job)> ReadAsync(Guid job, long after, CancellationToken ct)
    {
        if (Interlocked.Exchange(ref _started, 1) == 0)
            using (ExecutionContext.SuppressFlow()) _ = Task.Run(RunAsync); // not in the first stream's request (its trace) for good
        var done = new TaskCompletionSource<(List<JobEvent>, Job?)>(TaskCreationOptions.RunContinuationsAsynchronously);
        if (!_queue.Writer.TryWrite(new Read(job, after, ct, done))) done.SetException(new ObjectDisposedException(nameof(JobEventReads)));
        return done.Task.WaitAsync(ct); // a stream whose client left stops waiting at once
    }

    async Task RunAsync()
    {
        while (await _queue.Reader.WaitToReadAsync())
        {
            var batch = new List<Read>();
            while (batch.Count < MaxStreams && _queue.Reader.TryRead(out var read))
                if (read.Ct.IsCancellationRequested) read.Done.TrySetCanceled(read.Ct); // its client left: nothing to read
                else batch.Add(read);
            if (batch.Count > 0) await ReadAsync(batch);
        }
    }

    async Task ReadAsync(List<Read> batch)
    {
        // Watchers of one job at one place (a client and the dashboard, woken by the same commit) share a read.
        var pairs = batch.Select(b => (b.Job, b.After)).Distinct().ToList();
        try
        {
            var results = pairs.Zip(await ReadBatchAsync(pairs)).ToDictionary(r => r.First, r => r.Second);
            foreach (var read in batch) read.Done.TrySetResult(results[(read.Job, read.After)]);
        }
        catch (Exception e) when (pairs.Count > 1 && !DatabaseErrors.IsUnavailable(e))
        {
            // The database is there, so one stream's rows may be what failed: each place is read alone, and only its watchers' streams end.
            log.LogWarning("Reading {Count} job streams together failed: {Error}; reading them one at a time", pairs.Count, DatabaseErrors.OneLine(e));
            foreach (var place in batch.GroupBy(b => (b.Job, b.After))) await ReadAsync(place.ToList());
        }
        catch (Exception e)
        {
            // The database away is each stream's to say, once per outage (StreamLoop): here it would be a line a read.
            if (DatabaseErrors.IsUnavailable(e)) log.LogDebug("Reading {Count} job streams failed: {Error}", batch.Count, DatabaseErrors.OneLine(e));
            else log.LogWarning("Reading {Count} job streams failed: {Error}", batch.Count, DatabaseErrors.OneLine(e));
            foreach (var read in batch)
                if (read.Ct.IsCancellationRequested) read.Done.TrySetCanceled(read.Ct); // nobody waits for it: no unobserved exception
                else read.Done.TrySetException(e); // its stream waits out an outage (StreamLoop); any other failure ends it
        }
    }

    /// <summary>What each (job, after) pair's stream reads, in the pairs' order.</summary>
    internal Task<List<(List<JobEvent> Events, Job? Job)>> ReadBatchAsync(IReadOnlyList<(Guid Job, long After)> batch) =>
        connections.IsPostgres ? ManyAsync(batch) : OneByOneAsync(batch);

    async Task<List<(List<JobEvent> Events, Job? Job)>> ManyAsync(IReadOnlyList<(Guid Job, long After)> batch)
    {
        await using var connection = await connections.OpenAsync(CancellationToken.None);
        var (events, jobs) = await JobsConnections.QueryAsync(connection, ManyJobs, r => (Event: ReadEvent(r), N: r.GetInt64(7)), JobById.Read,
            CancellationToken.None, driver, ("ids", batch.Select(b => b.Job).ToArray()), ("afters", batch.Select(b => b.After).ToArray()));
        var byId = jobs.ToDictionary(j => j.Id);
        var results = batch.Select(b => (Events: new List<JobEvent>(), Job: byId.GetValueOrDefault(b.Job))).ToList();
        foreach (var (e, n) in events) results[(int)n - 1].Events.Add(e);
        return results.Select(r => (r.Events, r.Job)).ToList();
    }

    /// <summary>SQLite has no round trip to save: each stream's statement in turn, on one connection from the pool.</summary>
    async Task<List<(List<JobEvent> Events, Job? Job)>> OneByOneAsync(IReadOnlyList<(Guid Job, long After)> batch)
    {
        await using var connection = await connections.OpenAsync(CancellationToken.None);
        var results = new List<(List<JobEvent>, Job?)>(batch.Count);
        foreach (var b in batch)
        {
            var (events, jobs) = await JobsConnections.QueryAsync(connection, OneJob, ReadEvent, JobById.Read, CancellationToken.None, driver,
                ("id", b.Job), ("after", b.After));
            results.Add((events, jobs.Count == 0 ? null : jobs[0]));
        }
        return results;
    }

    static JobEvent ReadEvent(DbDataReader r) => new()
    {
        JobId = r.GetGuid(0), Seq = r.GetInt64(1), Kind = r.GetString(2), Level = Text(r, 3), Message = Text(r, 4), Data = Text(r, 5),
        CreatedAt = Utc(r, 6),
    };

    public void Dispose() => _queue.Writer.TryComplete();
}
