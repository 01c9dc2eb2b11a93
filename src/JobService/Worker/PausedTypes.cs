using JobService.Data;
using JobService.Hosting;
using JobService.Transitions;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;

namespace JobService.Worker;

/// <summary>
/// The job types paused now (job_type_pauses), as this node last read them: the claim leaves
/// them out (<see cref="JobWorker"/>), running jobs go on. Read at start, at once on every
/// <see cref="Notice.PausesChanged"/> (any node's pause or resume: NOTIFY on PostgreSQL,
/// in-process on SQLite) and after the listener reconnects, and every Worker:PollIntervalMs as the
/// safety net. A pause "until" a time ends by itself when the time passes.
/// </summary>
public sealed class PausedTypes(JobsConnections connections, IJobDriver driver, JobWakeup wakeup, DatabaseReady database,
    IOptions<WorkerOptions> options, ILogger<PausedTypes> log) : BackgroundService
{
    volatile IReadOnlyDictionary<string, DateTime?> _paused = new Dictionary<string, DateTime?>();
    readonly OutageLog _outage = new(log, "Reading the paused job types (the last known ones still apply)");
    readonly JobWakeup _changed = new();
    readonly JobWakeup _read = new();
    readonly TaskCompletionSource _firstRead = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public bool IsPaused(string type, DateTime now) => _paused.TryGetValue(type, out var until) && (until is null || until > now);

    /// <summary>Completes after the next read of the table (tests wait on it instead of sleeping).</summary>
    public Task NextRead => _read.Next;

    /// <summary>Completes once the table was read (or the read failed) at start: a restarted worker claims nothing paused before it knows.</summary>
    public Task FirstRead => _firstRead.Task;

    protected override async Task ExecuteAsync(CancellationToken stopping)
    {
        if (!await database.WaitAsync(stopping)) return;
        driver.Notifier.Received += OnNotice;
        try
        {
            while (!stopping.IsCancellationRequested)
            {
                var changed = _changed.Next; // taken before the read: a change announced during it is read again
                await ReadAsync(stopping);
                // Pacing is wall-clock time, like the claim loop's: the fallback, not the clock of the jobs.
                await Task.WhenAny(changed, Task.Delay(options.Value.PollIntervalMs, stopping));
            }
        }
        catch (OperationCanceledException) when (stopping.IsCancellationRequested) { }
        finally { driver.Notifier.Received -= OnNotice; }
    }

    async Task ReadAsync(CancellationToken ct)
    {
        try
        {
            var now = await ReadTableAsync(ct);
            _outage.Succeeded();
            var resumed = _paused.Keys.Except(now.Keys).Any();
            _paused = now;
            if (resumed) wakeup.Signal(); // its pending jobs may be claimed at once
        }
        catch (Exception e) when (!ct.IsCancellationRequested)
        {
            _outage.Failed(e);
        }
        _read.Signal();
        _firstRead.TrySetResult();
    }

    /// <summary>A plain read (<see cref="JobsConnections"/>): the first is on the way to the first claim.</summary>
    async Task<Dictionary<string, DateTime?>> ReadTableAsync(CancellationToken ct)
    {
        var rows = await connections.QueryAsync("SELECT type, paused_until FROM job_type_pauses",
            r => (Type: r.GetString(0), Until: r.IsDBNull(1) ? (DateTime?)null : DateTime.SpecifyKind(r.GetDateTime(1), DateTimeKind.Utc)), ct);
        return rows.ToDictionary(p => p.Type, p => p.Until);
    }

    void OnNotice(Notice notice)
    {
        if (notice is Notice.PausesChanged or Notice.Reconnected) _changed.Signal();
    }
}
