using JobService.Data;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Storage;
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

    /// <summary>Inside the transaction that inserted or re-queued jobs, before it commits: wakes every instance's workers.</summary>
    public async Task NotifyJobsAvailableAsync(JobsDbContext db, CancellationToken ct)
    {
        if (Postgres) await db.Database.ExecuteSqlAsync($"SELECT pg_notify({JobsChannel}, '')", ct);
    }

    /// <summary>Commits a transaction that inserted or re-queued jobs, and wakes idle workers everywhere and here.</summary>
    public async Task CommitJobsAvailableAsync(JobsDbContext db, IDbContextTransaction tx, CancellationToken ct)
    {
        await NotifyJobsAvailableAsync(db, ct);
        await tx.CommitAsync(ct);
        wakeup.Signal();
    }

    /// <summary>Commits a transaction that set a running job's cancel flag, and fires its handler's token wherever it runs.</summary>
    public async Task CommitCancelRequestedAsync(JobsDbContext db, IDbContextTransaction tx, Guid jobId, CancellationToken ct)
    {
        if (Postgres) await db.Database.ExecuteSqlAsync($"SELECT pg_notify({CancelChannel}, {jobId.ToString()})", ct);
        await tx.CommitAsync(ct);
        running.Cancel(jobId, StopReason.Cancelled);
    }
}
