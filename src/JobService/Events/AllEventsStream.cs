using JobService.Api;
using JobService.Data;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;

namespace JobService.Events;

/// <summary>What GET /events watches: one tenant's jobs (null: every tenant, an admin's explicit ask), job types, statuses, ids, and whether log and output events come too.</summary>
public sealed record EventFilter(string? Tenant, IReadOnlyList<string> Types, IReadOnlyList<JobStatus> Statuses, IReadOnlyList<Guid> JobIds, bool Logs, bool Output);

/// <summary>
/// GET /events as it runs: one stream for many jobs. Events are read by time across jobs, so its
/// ids are a cursor (<c>t</c> + the event's time in ticks), not a seq: on PostgreSQL the time the
/// database's clock gave the row as it was written (written_at), on SQLite its created_at (one
/// process writes, on one clock). Commits do not come in
/// time order, so each read also looks back <see cref="Grace"/> and drops what this stream sent
/// already; a resumed stream replays from its cursor less that grace, and the client drops by
/// (job_id, seq) what it had. A fresh stream, or a cursor older than Events:ReplayWindowMinutes
/// (or later than any clock here could have written), starts with a <c>snapshot-list</c> of the matching unfinished jobs.
/// </summary>
public sealed class AllEventsStream(EventFilter filter, DateTime? cursor, IDbContextFactory<JobsDbContext> contexts, EventHub hub,
    IOptions<EventsOptions> options, bool postgres) : IResult
{
    public const string SnapshotList = "snapshot-list";
    /// <summary>PostgreSQL's job_events.written_at (PostgresJobsDbContext): the database's clock as the row was written.</summary>
    public const string WrittenAt = "WrittenAt";
    // The next time after one read whole: a tick on SQLite; on PostgreSQL, which keeps microseconds,
    // a microsecond (a tick more was sent as the same time, and the same rows were read for ever).
    readonly TimeSpan _step = postgres ? TimeSpan.FromMicroseconds(1) : TimeSpan.FromTicks(1);
    static readonly TimeSpan Grace = TimeSpan.FromSeconds(2);
    // How far ahead of this node's clock another node's may be and its cursors still be taken.
    static readonly TimeSpan FutureSkew = TimeSpan.FromMinutes(5);
    const int Batch = 500;

    public async Task ExecuteAsync(HttpContext http)
    {
        var o = options.Value;
        using var lifetime = StreamLoop.Lifetime(http);
        var ct = lifetime.Token;
        using var watch = hub.WatchAll();
        var sse = new SseWriter(http);
        var ends = DateTime.UtcNow.AddSeconds(o.MaxStreamSeconds);
        var sent = new Dictionary<(Guid, long), DateTime>();
        try
        {
            var since = cursor ?? DateTime.MinValue;
            var listed = new Dictionary<Guid, long>(); // what the snapshot-list showed, by job: its events up to then are not sent again
            // No cursor, one older than the replay window, or one ahead of this clock by more than a node's
            // could be (not sent by this service; a stream resumed there would wait for nothing): a snapshot,
            // read before anything is sent, so that a database away now is still a 503.
            var snapshot = cursor is null || cursor < DateTime.UtcNow.AddMinutes(-o.ReplayWindowMinutes) || cursor > DateTime.UtcNow + FutureSkew;
            var snapshotAt = snapshot ? await ClockAsync(ct) : default; // before the read: what commits during it is read after
            var (json, seqs) = snapshot ? await SnapshotAsync(ct) : (null, listed);
            await sse.RetryAsync(TimeSpan.FromMilliseconds(o.RetryMs));
            if (snapshot)
            {
                since = snapshotAt;
                listed = seqs;
                await sse.EventAsync(SnapshotList, Cursor(since), json!);
            }
            since -= Grace;
            await StreamLoop.RunAsync(http, StepAsync, watch, sse, ends, o, ct);

            // Reads and sends what came since `since`, then waits for a poke; true when the stream ends.
            async Task<bool> StepAsync()
            {
                var rows = await ReadAsync(since, ct, Batch);
                if (rows.Count == Batch && rows[^1].At == since)
                    rows = await ReadAsync(since, ct, int.MaxValue, exactly: true); // a batch transition's events share one time
                foreach (var row in rows)
                {
                    var e = row.Event;
                    if (listed.TryGetValue(e.JobId, out var shown) && e.Seq <= shown) continue;
                    if (!sent.TryAdd((e.JobId, e.Seq), row.At)) continue;
                    await sse.EventAsync(e.Kind, Cursor(row.At), EventJson.Data(e, row.Type, row.Tenant));
                    if (e.Message is not null && filter.Logs) await sse.EventAsync(JobEventKinds.Log, Cursor(row.At), EventJson.Log(e));
                }
                if (rows.Count >= Batch)
                {
                    // More to read: move on (events at the last time read again are dropped as sent).
                    since = rows[^1].At == since ? since + _step : rows[^1].At;
                    return false;
                }
                // Caught up: the next read looks back a grace period, for commits that came late.
                if (rows.Count > 0) since = Max(since, rows[^1].At - Grace);
                foreach (var old in sent.Where(x => x.Value < since).Select(x => x.Key).ToList()) sent.Remove(old);
                var readAt = DateTime.UtcNow;
                if (await watch.WaitAsync(StreamLoop.Until(ends, sse, o), ct))
                {
                    // Every read looks back the grace period, so a read per poke under a busy fleet
                    // re-reads the same seconds dozens of times a second (300 streaming jobs: 30 reads/s,
                    // two thirds of PostgreSQL's time; docs/benchmarks.md). Pokes that come sooner wait
                    // and share one read.
                    var spacing = Min(readAt.AddMilliseconds(o.ListReadIntervalMs), ends) - DateTime.UtcNow;
                    if (spacing > TimeSpan.Zero) await Task.Delay(spacing, ct);
                }
                await sse.PingIfQuietAsync(o.HeartbeatSeconds);
                return !await Auth.CallerCheck.StillValidAsync(http); // revoked, rotated or signed out: the reconnect meets the 401
            }
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
            // The client went away, or this instance is stopping.
        }
    }

    public static string Cursor(DateTime at) => "t" + at.Ticks;

    public static bool TryParseCursor(string? text, out DateTime at)
    {
        at = default;
        if (text is not ['t', .. var digits] || !long.TryParse(digits, out var ticks) || ticks < 0 || ticks > DateTime.MaxValue.Ticks) return false;
        at = new DateTime(ticks, DateTimeKind.Utc);
        return true;
    }

    /// <summary>An event as the stream reads it: with its job's type, status and tenant, and the time it is read by.</summary>
    sealed class EventRow
    {
        public required JobEvent Event { get; init; }
        public required string Type { get; init; }
        public required JobStatus Status { get; init; }
        public required string Tenant { get; init; }
        public required DateTime At { get; init; }
    }

    async Task<List<EventRow>> ReadAsync(DateTime since, CancellationToken ct, int take, bool exactly = false)
    {
        string[] kinds = [JobEventKinds.Created, JobEventKinds.Status, JobEventKinds.Progress, JobEventKinds.Usage,
            JobEventKinds.Completed, JobEventKinds.Failed, JobEventKinds.Cancelled, .. filter.Logs ? [JobEventKinds.Log] : Array.Empty<string>(),
            .. filter.Output ? [JobEventKinds.Output] : Array.Empty<string>()];
        await using var db = await contexts.CreateDbContextAsync(ct);
        var events = db.JobEvents.AsNoTracking().Where(e => kinds.Contains(e.Kind));
        // The time read by: PostgreSQL's written_at (null in rows from before it: not read), SQLite's created_at.
        var query = postgres
            ? from e in events.Where(e => EF.Property<DateTime?>(e, WrittenAt) != null)
              join j in db.Jobs on e.JobId equals j.Id
              select new EventRow { Event = e, Type = j.Type, Status = j.Status, Tenant = j.TenantId, At = EF.Property<DateTime?>(e, WrittenAt)!.Value }
            : from e in events
              join j in db.Jobs on e.JobId equals j.Id
              select new EventRow { Event = e, Type = j.Type, Status = j.Status, Tenant = j.TenantId, At = e.CreatedAt };
        if (filter.Tenant is not null) query = query.Where(x => x.Tenant == filter.Tenant);
        query = exactly ? query.Where(x => x.At == since) : query.Where(x => x.At >= since);
        if (filter.Types.Count > 0) query = query.Where(x => filter.Types.Contains(x.Type));
        if (filter.JobIds.Count > 0) query = query.Where(x => filter.JobIds.Contains(x.Event.JobId));
        // A status filter matches jobs in those statuses now; a status change always passes, so that a list sees a job leave.
        if (filter.Statuses.Count > 0) query = query.Where(x => filter.Statuses.Contains(x.Status) || StatusKinds.Contains(x.Event.Kind));
        return await query.OrderBy(x => x.At).ThenBy(x => x.Event.JobId).ThenBy(x => x.Event.Seq).Take(take).ToListAsync(ct);
    }

    /// <summary>
    /// The clock the events' times are read on: on PostgreSQL the database's (written_at), whatever
    /// node wrote them; on SQLite this process's, the only one writing.
    /// </summary>
    async Task<DateTime> ClockAsync(CancellationToken ct)
    {
        if (!postgres) return DateTime.UtcNow;
        await using var db = await contexts.CreateDbContextAsync(ct);
        return await db.Database.SqlQueryRaw<DateTime>("SELECT clock_timestamp() AS \"Value\"").SingleAsync(ct);
    }

    static readonly string[] StatusKinds = [JobEventKinds.Created, JobEventKinds.Status, JobEventKinds.Completed, JobEventKinds.Failed, JobEventKinds.Cancelled];

    /// <summary>The matching unfinished jobs, newest first (at most 500), each with its seq: where a list starts.</summary>
    async Task<(string Json, Dictionary<Guid, long> Seqs)> SnapshotAsync(CancellationToken ct)
    {
        await using var db = await contexts.CreateDbContextAsync(ct);
        var query = db.Jobs.AsNoTracking();
        if (filter.Tenant is not null) query = query.Where(j => j.TenantId == filter.Tenant);
        if (filter.Types.Count > 0) query = query.Where(j => filter.Types.Contains(j.Type));
        if (filter.JobIds.Count > 0) query = query.Where(j => filter.JobIds.Contains(j.Id));
        JobStatus[] unfinished = [JobStatus.Pending, JobStatus.Running];
        query = query.InStatuses(filter.Statuses.Count > 0 ? unfinished.Intersect(filter.Statuses) : unfinished);
        var total = await query.CountAsync(ct);
        var jobs = await query.OrderByDescending(j => j.CreatedAt).ThenByDescending(j => j.Id).Take(500).ToListAsync(ct);
        var items = string.Join(",", jobs.Select(j => EventJson.Job(JobResponse.From(j), j.EventSeq)));
        return ($"{{\"items\":[{items}],\"total\":{total}}}", jobs.ToDictionary(j => j.Id, j => j.EventSeq));
    }

    static DateTime Max(DateTime a, DateTime b) => a > b ? a : b;
    static DateTime Min(DateTime a, DateTime b) => a < b ? a : b;
}
