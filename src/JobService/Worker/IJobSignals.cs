using JobService.Data;

namespace JobService.Worker;

/// <summary>
/// Wake-ups between the API and the workers, so that polling is only the fallback: new jobs
/// wake idle workers, and a cancel reaches the worker that holds the job. On PostgreSQL these
/// are NOTIFYs (sent inside the writing transaction, delivered on commit, seen by every
/// instance); on SQLite, one process owns the database file and an in-process signal suffices.
/// </summary>
public interface IJobSignals
{
    /// <summary>Called inside the transaction that inserted or re-queued jobs, before it commits.</summary>
    Task NotifyJobsAvailableAsync(JobsDbContext db, CancellationToken ct);

    /// <summary>Called inside the transaction that set a running job's cancel flag, before it commits.</summary>
    Task NotifyCancelRequestedAsync(JobsDbContext db, Guid jobId, CancellationToken ct);

    /// <summary>Called after commit: wakes this process's own idle workers and cancel watchers at once.</summary>
    void Committed();
}
