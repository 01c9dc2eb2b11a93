using System.Diagnostics;
using System.Text;
using JobService.Data;
using JobService.Hosting;
using Microsoft.Extensions.Options;
using Npgsql;

namespace JobService.Transitions;

/// <summary>
/// PostgreSQL LISTEN/NOTIFY for every node, API-only ones included. Sending: notices published
/// after commits are coalesced (one wake-up, one cancel per job, the highest seq per job) and
/// sent by one loop, outside any writing transaction, several to a NOTIFY payload (at most
/// 8,000 bytes each). Wake-ups, cancels and pauses go at once; events alone go at most every
/// <see cref="EventsSpacing"/>, so that a busy worker's two events per job travel in a few
/// notices a second rather than one per commit. Listening: one connection from the shared data
/// source; after every (re)connect subscribers hear <see cref="Notice.Reconnected"/>, since
/// NOTIFY has no replay.
/// Only nodes that serve the API listen for events.
/// </summary>
public sealed class PostgresNotifier(NpgsqlDataSource dataSource, IOptions<ServiceOptions> service, ILogger<PostgresNotifier> log) : IJobNotifier
{
    public const string JobsChannel = "jobservice_jobs";
    public const string CancelChannel = "jobservice_cancel";
    public const string EventsChannel = "jobservice_events";
    public const string PausesChannel = "jobservice_pauses";
    const int MaxPayload = 7_900;
    /// <summary>The reconnect's backoff's cap: a database back is heard within it (at 30 s, cancels and wake-ups waited 14–16 s for the poll).</summary>
    static readonly TimeSpan MaxReconnectDelay = TimeSpan.FromSeconds(2);
    readonly OutageLog _outage = new(log, "The notification connection");
    static readonly TimeSpan WaitSlice = TimeSpan.FromSeconds(1), ProbeEvery = TimeSpan.FromSeconds(15);

    /// <summary>
    /// The least time between two sends that carry events only: a stream on another node hears
    /// an event at most this much later under load, and at once when the last send was longer ago.
    /// </summary>
    public static readonly TimeSpan EventsSpacing = TimeSpan.FromMilliseconds(10);

    readonly Lock _gate = new();
    readonly SemaphoreSlim _pending = new(0), _urgent = new(0); // anything to send; a notice that must not wait
    readonly TaskCompletionSource _listening = new(TaskCreationOptions.RunContinuationsAsynchronously);
    bool _jobsAvailable, _pausesChanged;
    int _carrying; // 1 while an insert carries its own wake-up (TryCarryWakeUp)
    readonly Dictionary<Guid, long> _cancels = [], _events = [];
    readonly StringBuilder _payload = new(MaxPayload); // under _gate, as the sets it is made from

    /// <summary>
    /// This process's name in its wake-ups' and pauses' payloads. It hears those of its own at once
    /// (<see cref="Publish"/>), so their echo from the server is dropped: heard twice, a wake-up
    /// that came while its job was being claimed made the worker claim once more for nothing.
    /// Any other payload (another node's, or an earlier version's empty one) is heard.
    /// </summary>
    public string NodeId { get; } = Guid.NewGuid().ToString("N");

    public event Action<Notice>? Received;
    public Task Listening => _listening.Task;

    public void Publish(Notice notice)
    {
        if (notice is Notice.JobsAvailable { SentWithCommit: true })
        {
            Received?.Invoke(notice);
            return;
        }
        if (notice is Notice.EventsAppended { SentWithCommit: true }) return; // every node hears it from the server, this one too
        lock (_gate)
        {
            switch (notice)
            {
                case Notice.JobsAvailable: _jobsAvailable = true; break;
                case Notice.PausesChanged: _pausesChanged = true; break;
                case Notice.CancelRequested c: _cancels[c.JobId] = Math.Max(c.Seq, _cancels.GetValueOrDefault(c.JobId)); break;
                case Notice.EventsAppended e: _events[e.JobId] = Math.Max(e.Seq, _events.GetValueOrDefault(e.JobId)); break;
            }
        }
        if (_pending.CurrentCount == 0) _pending.Release();
        if (notice is not (Notice.JobsAvailable or Notice.CancelRequested or Notice.PausesChanged)) return;
        if (_urgent.CurrentCount == 0) _urgent.Release();
        // This node hears wake-ups, cancels and pauses at once, without the round trip through the server.
        Received?.Invoke(notice);
    }

    /// <summary>
    /// Whether the insert about to run may carry its own wake-up and its created events' notice (a
    /// NOTIFY in its statement, sent by PostgreSQL at its commit): true for one insert of this node
    /// at a time, until its statement returns (<see cref="WakeUpCarried"/>). A lone submit's workers
    /// then hear of it without the send loop's hand-off and round trip after the commit (the
    /// harness's pickup p50 1.35–1.97 → 0.48–0.90 ms, docs/benchmarks.md), and no second notifying
    /// transaction (a commit flushed to disk, every listening backend woken) follows the insert's
    /// while its job is being claimed; under load the others' notices go through the loop,
    /// coalesced, since PostgreSQL serialises the commits of notifying transactions.
    /// </summary>
    public bool TryCarryWakeUp() => Interlocked.CompareExchange(ref _carrying, 1, 0) == 0;

    /// <summary>Ends <see cref="TryCarryWakeUp"/>'s turn, committed or not.</summary>
    public void WakeUpCarried() => Volatile.Write(ref _carrying, 0);

    public Task RunAsync(CancellationToken ct) => Task.WhenAll(SendLoopAsync(ct), ListenLoopAsync(ct));

    async Task SendLoopAsync(CancellationToken ct)
    {
        var lastSent = 0L;
        while (!ct.IsCancellationRequested)
        {
            try
            {
                await _pending.WaitAsync(ct);
                var spacing = EventsSpacing - Stopwatch.GetElapsedTime(lastSent);
                if (spacing > TimeSpan.Zero && _urgent.CurrentCount == 0) await _urgent.WaitAsync(spacing, ct);
                while (_urgent.CurrentCount > 0) _urgent.Wait(0); // what it signalled goes in this send
            }
            catch (OperationCanceledException) { return; }
            lastSent = Stopwatch.GetTimestamp();
            List<(string Channel, string Payload)> notes;
            lock (_gate)
            {
                notes = Payloads();
                (_jobsAvailable, _pausesChanged) = (false, false);
                _cancels.Clear(); // kept, not made anew: under load they fill again within 10 ms
                _events.Clear();
            }
            if (notes.Count == 0) continue;
            try
            {
                await using var connection = await dataSource.OpenConnectionAsync(ct);
                await using var command = connection.CreateCommand();
                command.CommandText = "SELECT " + string.Join(", ", notes.Select((_, i) => $"pg_notify(@c{i}, @p{i})"));
                for (var i = 0; i < notes.Count; i++)
                {
                    command.Parameters.AddWithValue($"c{i}", notes[i].Channel);
                    command.Parameters.AddWithValue($"p{i}", notes[i].Payload);
                }
                await command.ExecuteNonQueryAsync(ct);
            }
            catch (Exception e)
            {
                if (ct.IsCancellationRequested) return; // stopping mid-send
                // Hints only: listeners poll the table as a fallback, so a lost notice costs latency, never data.
                log.LogWarning("Sending {Count} notification(s) failed: {Error}", notes.Count, DatabaseErrors.OneLine(e));
            }
        }
    }

    /// <summary>
    /// Receives notices (the Notification event) until stopped. WaitAsync can miss a cancellation
    /// that lands as it starts (npgsql/npgsql#5975) and then waits for the next notice, for ever on
    /// a quiet database, so it waits at most a second at a time. Between those waits Npgsql's own
    /// keepalive never fires, so a connection that heard nothing for 15 s is probed instead: a
    /// dead one fails here and the loop above reconnects.
    /// </summary>
    static async Task WaitForNoticesAsync(NpgsqlConnection connection, CancellationToken ct)
    {
        var alive = Stopwatch.GetTimestamp(); // when the server last answered: a notice or a probe
        while (!ct.IsCancellationRequested)
        {
            if (!await connection.WaitAsync(WaitSlice, ct))
            {
                if (Stopwatch.GetElapsedTime(alive) < ProbeEvery) continue;
                await using var probe = new NpgsqlCommand("SELECT 1", connection) { CommandTimeout = 5 };
                await probe.ExecuteNonQueryAsync(ct);
            }
            alive = Stopwatch.GetTimestamp();
        }
    }

    /// <summary>
    /// Pooled connections are not reset when they go back (see DatabaseSetup), so the listener
    /// takes its LISTENs off before its connection may serve a request. A broken one is dropped.
    /// </summary>
    static async Task UnlistenAsync(NpgsqlConnection connection)
    {
        if (connection.FullState != System.Data.ConnectionState.Open) return;
        try
        {
            // Briefly: at shutdown a server that stopped answering must not hold the stop for the default 30 s.
            await using var unlisten = new NpgsqlCommand("UNLISTEN *", connection) { CommandTimeout = 2 };
            await unlisten.ExecuteNonQueryAsync(CancellationToken.None);
        }
        catch (Exception e) when (e is NpgsqlException or InvalidOperationException or TimeoutException)
        {
            // A connection that cannot answer UNLISTEN is broken, and Npgsql does not pool a broken one.
        }
    }

    List<(string, string)> Payloads()
    {
        var notes = new List<(string, string)>();
        if (_jobsAvailable) notes.Add((JobsChannel, NodeId));
        if (_pausesChanged) notes.Add((PausesChannel, NodeId));
        notes.AddRange(_cancels.Select(c => (CancelChannel, $"{c.Key}:{c.Value}")));
        var payload = _payload.Clear();
        foreach (var (id, seq) in _events)
        {
            if (AppendEvent(payload, id, seq)) continue;
            notes.Add((EventsChannel, payload.ToString()));
            AppendEvent(payload.Clear(), id, seq);
        }
        if (payload.Length > 0) notes.Add((EventsChannel, payload.ToString()));
        return notes;
    }

    /// <summary>
    /// The events channel's payload for one write's events, when they fit in one notice (null
    /// otherwise): what an insert that carries its own wake-up sends beside it (<see cref="TryCarryWakeUp"/>).
    /// </summary>
    public static string? EventsNote(IEnumerable<(Guid JobId, long Seq)> events)
    {
        var payload = new StringBuilder();
        foreach (var (id, seq) in events)
            if (!AppendEvent(payload, id, seq)) return null;
        return payload.ToString();
    }

    /// <summary>
    /// Appends "id:seq" to an events payload ("id:seq,id:seq,…"), unless it would pass
    /// <see cref="MaxPayload"/>. Each item is formatted in place: a busy worker tells two events a
    /// job, and a string for each was a twentieth of a drain's allocations.
    /// </summary>
    static bool AppendEvent(StringBuilder payload, Guid id, long seq)
    {
        Span<char> item = stackalloc char[64]; // a job id (36) and a seq (at most 20)
        id.TryFormat(item, out var length);
        item[length++] = ':';
        seq.TryFormat(item[length..], out var digits, provider: System.Globalization.CultureInfo.InvariantCulture);
        length += digits;
        if (payload.Length + length + 1 > MaxPayload) return false;
        if (payload.Length > 0) payload.Append(',');
        payload.Append(item[..length]);
        return true;
    }

    async Task ListenLoopAsync(CancellationToken ct)
    {
        var delay = TimeSpan.FromMilliseconds(250);
        while (!ct.IsCancellationRequested)
        {
            try
            {
                await using var connection = await dataSource.OpenConnectionAsync(ct);
                connection.Notification += OnNotification;
                // Events feed the SSE streams, which only API nodes serve: a worker-only node does not
                // receive two notices per job it runs just to drop them.
                var events = service.Value.RunsApi ? $" LISTEN {EventsChannel};" : "";
                await using (var listen = new NpgsqlCommand($"LISTEN {JobsChannel}; LISTEN {CancelChannel}; LISTEN {PausesChannel};{events}", connection))
                    await listen.ExecuteNonQueryAsync(ct);
                log.LogInformation("Listening for job notifications");
                _outage.Succeeded();
                delay = TimeSpan.FromMilliseconds(250);
                Received?.Invoke(new Notice.Reconnected());
                _listening.TrySetResult();
                try { await WaitForNoticesAsync(connection, ct); }
                finally { await UnlistenAsync(connection); }
            }
            catch (OperationCanceledException) when (ct.IsCancellationRequested)
            {
                return;
            }
            catch (Exception e)
            {
                var away = DatabaseErrors.IsUnavailable(e);
                if (away || DatabaseErrors.IsLoginRefused(e)) _outage.Failed(e);
                else log.LogWarning(e, "The notification connection failed; reconnecting in {Delay}", delay);
                try { await Task.Delay(delay, ct); } catch (OperationCanceledException) { return; }
                // The database away comes back by itself: looked for often. Anything else (a refused login, a bug) waits longer.
                delay = TimeSpan.FromSeconds(Math.Min(delay.TotalSeconds * 2, away ? MaxReconnectDelay.TotalSeconds : 30));
            }
        }
    }

    void OnNotification(object sender, NpgsqlNotificationEventArgs e)
    {
        switch (e.Channel)
        {
            case JobsChannel when e.Payload != NodeId:
                Received?.Invoke(new Notice.JobsAvailable());
                break;
            case PausesChannel when e.Payload != NodeId:
                Received?.Invoke(new Notice.PausesChanged());
                break;
            case CancelChannel when e.Payload.Split(':') is [var job, var seq] && Guid.TryParse(job, out var id) && long.TryParse(seq, out var n):
                Received?.Invoke(new Notice.CancelRequested(id, n));
                break;
            case CancelChannel when Guid.TryParse(e.Payload, out var id): // from a node of an earlier version: stops whatever runs
                Received?.Invoke(new Notice.CancelRequested(id, long.MaxValue));
                break;
            case EventsChannel:
                foreach (var item in e.Payload.Split(',', StringSplitOptions.RemoveEmptyEntries))
                    if (item.Split(':') is [var job, var seq] && Guid.TryParse(job, out var jobId) && long.TryParse(seq, out var n))
                        Received?.Invoke(new Notice.EventsAppended(jobId, n));
                break;
        }
    }
}
