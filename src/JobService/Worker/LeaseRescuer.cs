using Microsoft.Extensions.Options;

namespace JobService.Worker;

/// <summary>
/// Returns jobs whose lease expired (their worker crashed, was killed or lost the database)
/// to pending with backoff, or fails them when their attempts are used up, and says why on
/// the job's log. Every write is guarded on the expired lease it saw, so any number of nodes
/// can run this at once and a job is rescued once.
/// </summary>
public sealed class LeaseRescuer(JobStore store, TimeProvider time, IOptions<WorkerOptions> options, ILogger<LeaseRescuer> log)
    : BackgroundService
{
    readonly RetryBackoff _backoff = RetryBackoff.From(options.Value);

    protected override async Task ExecuteAsync(CancellationToken stopping)
    {
        var interval = TimeSpan.FromSeconds(options.Value.RescueIntervalSeconds);
        while (!stopping.IsCancellationRequested)
        {
            try
            {
                var rescued = await store.RescueExpiredAsync(_backoff, stopping);
                if (rescued > 0) log.LogWarning("Rescued {Count} job(s) whose lease had expired", rescued);
            }
            catch (Exception e) when (!stopping.IsCancellationRequested)
            {
                log.LogWarning(e, "Looking for expired leases failed; next try in {Interval}", interval);
            }
            try { await Task.Delay(interval, time, stopping); } catch (OperationCanceledException) { return; }
        }
    }
}
