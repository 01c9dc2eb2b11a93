using JobService.Data;
using JobService.Events;
using JobService.Hosting;
using JobService.Transitions;
using Microsoft.Extensions.Options;

namespace JobService.Worker;

/// <summary>
/// Deletes finished jobs (with their events) older than their status's retention, in batches,
/// oldest first, and compacts away the progress and output events of jobs finished a while ago.
/// Safe on every node: deleting a deleted row does nothing.
/// </summary>
public sealed class RetentionCleaner(
    JobTransitions transitions, TimeProvider time, DatabaseReady database, IOptions<RetentionOptions> options,
    IOptions<EventsOptions> events, ILogger<RetentionCleaner> log)
    : BackgroundService
{
    // How far compaction got: jobs finish later than the cutoff moves, so each pass goes on from here.
    (DateTime CompletedAt, Guid Id)? _compactedTo;

    public async Task<int> CleanOnceAsync(CancellationToken ct)
    {
        var o = options.Value;
        var now = time.GetUtcNow().UtcDateTime;
        var deleted = 0;
        foreach (var (status, hours) in new[] { (JobStatus.Completed, o.CompletedHours), (JobStatus.Failed, o.FailedHours), (JobStatus.Cancelled, o.CancelledHours) })
        {
            if (hours <= 0) continue;
            int batch;
            do deleted += batch = await transitions.DeleteFinishedAsync(status, now.AddHours(-hours), o.BatchSize, ct);
            while (batch == o.BatchSize && !ct.IsCancellationRequested);
        }
        var compactBefore = now.AddMinutes(-events.Value.CompactAfterMinutes);
        while (!ct.IsCancellationRequested && await transitions.CompactEventsAsync(compactBefore, _compactedTo, o.BatchSize, ct) is { } last)
            _compactedTo = last;
        return deleted;
    }

    protected override async Task ExecuteAsync(CancellationToken stopping)
    {
        if (!options.Value.Enabled || !await database.WaitAsync(stopping)) return;
        await Periodic.RunAsync("Retention cleaning", TimeSpan.FromSeconds(options.Value.IntervalSeconds), startAtOnce: true, async ct =>
        {
            var deleted = await CleanOnceAsync(ct);
            if (deleted > 0) log.LogInformation("Retention deleted {Count} finished job(s)", deleted);
        }, time, log, stopping);
    }
}
