using JobService.Hosting;
using JobService.Transitions;
using Microsoft.Extensions.Options;

namespace JobService.Worker;

/// <summary>
/// Returns jobs whose lease expired (their worker crashed, was killed or lost the database) to
/// pending, keeping their place, or fails them (no attempt left, or lost their worker too
/// often), and says why on the job's log. Every write is guarded on the expired lease it saw,
/// so any number of nodes can run this at once and a job is rescued once.
/// </summary>
public sealed class LeaseRescuer(JobTransitions transitions, TimeProvider time, DatabaseReady database, IOptions<WorkerOptions> options,
    ILogger<LeaseRescuer> log) : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stopping)
    {
        if (!await database.WaitAsync(stopping)) return;
        await Periodic.RunAsync("Looking for expired leases", TimeSpan.FromSeconds(options.Value.RescueIntervalSeconds), startAtOnce: true, async ct =>
        {
            var rescued = await transitions.RescueExpiredAsync(options.Value.MaxRescues, ct);
            if (rescued > 0) log.LogWarning("Rescued {Count} job(s) whose lease had expired", rescued);
        }, time, log, stopping);
    }
}
