using JobService.Data;

namespace JobService.Worker;

/// <summary>
/// SQLite: one process owns the database, so the API wakes its own workers directly. Cancels
/// of running jobs are seen by the worker's heartbeat, which reads the cancel flags it holds.
/// </summary>
public sealed class LocalJobSignals(JobWakeup wakeup) : IJobSignals
{
    public Task NotifyJobsAvailableAsync(JobsDbContext db, CancellationToken ct) => Task.CompletedTask;

    public Task NotifyCancelRequestedAsync(JobsDbContext db, Guid jobId, CancellationToken ct) => Task.CompletedTask;

    public void Committed() => wakeup.Signal();
}
