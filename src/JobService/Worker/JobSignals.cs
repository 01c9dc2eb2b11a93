using JobService.Data;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;

namespace JobService.Worker;

/// <summary>
/// Wake-ups between the API and the workers, so that polling is only the fallback. On
/// PostgreSQL the API sends NOTIFYs inside its writing transaction (delivered on commit, to
/// every instance, through <see cref="PostgresListener"/>); in this process, and so on SQLite
/// where one process owns the file, the signal goes straight to the local workers.
/// </summary>
public sealed class JobSignals(JobWakeup wakeup, RunningJobs running, IOptions<DatabaseOptions> database)
{
    public const string JobsChannel = "jobservice_jobs";
    public const string CancelChannel = "jobservice_cancel";

    bool Postgres => database.Value.IsPostgres;

    /// <summary>Inside the transaction that inserted or re-queued jobs, before it commits.</summary>
    public async Task NotifyJobsAvailableAsync(JobsDbContext db, CancellationToken ct)
    {
        if (Postgres) await db.Database.ExecuteSqlAsync($"SELECT pg_notify({JobsChannel}, '')", ct);
    }

    /// <summary>Inside the transaction that set a running job's cancel flag, before it commits.</summary>
    public async Task NotifyCancelRequestedAsync(JobsDbContext db, Guid jobId, CancellationToken ct)
    {
        if (Postgres) await db.Database.ExecuteSqlAsync($"SELECT pg_notify({CancelChannel}, {jobId.ToString()})", ct);
    }

    /// <summary>After commit: wakes this process's idle workers at once.</summary>
    public void JobsAvailableCommitted() => wakeup.Signal();

    /// <summary>After commit: fires the token of the job's handler if this process runs it.</summary>
    public void CancelCommitted(Guid jobId) => running.Cancel(jobId, StopReason.Cancelled);
}
