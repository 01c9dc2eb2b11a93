using System.Diagnostics.Metrics;
using JobService.Data;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Query;

namespace JobService.Worker;

/// <summary>
/// The worker's writes that read the same in both dialects. Every one is fenced: it changes
/// the job only while this worker still holds it for this attempt (status running, same
/// attempt, same lease owner), and reports whether it did. A false answer means the lease was
/// lost (expired and rescued, or the job was deleted): the caller must stop, not retry.
/// </summary>
public sealed class JobStore(IDbContextFactory<JobsDbContext> contexts, TimeProvider time)
{
    static readonly Meter Meter = new("JobService.Worker");
    static readonly Counter<long> ProgressWritesCounter = Meter.CreateCounter<long>("jobservice.progress_writes");
    long _progressWrites;

    /// <summary>Progress rows written by this process: the denominator of the coalescing ratio.</summary>
    public long ProgressWrites => Interlocked.Read(ref _progressWrites);

    DateTime Now => time.GetUtcNow().UtcDateTime;

    static IQueryable<Job> Held(JobsDbContext db, JobLease l) => db.Jobs.Where(j =>
        j.Id == l.JobId && j.Status == JobStatus.Running && j.Attempt == l.Attempt && j.LockedBy == l.WorkerId);

    public async Task<bool> UpdateProgressAsync(JobLease lease, int progress, string? message, CancellationToken ct)
    {
        await using var db = await contexts.CreateDbContextAsync(ct);
        var now = Now;
        // GREATEST in SQL too: a late flush never moves the bar back.
        var written = await Held(db, lease).ExecuteUpdateAsync(u => u
            .SetProperty(j => j.Progress, j => j.Progress > progress ? j.Progress : progress)
            .SetProperty(j => j.Message, j => message ?? j.Message)
            .SetProperty(j => j.UpdatedAt, now), ct);
        Interlocked.Increment(ref _progressWrites);
        ProgressWritesCounter.Add(1);
        return written == 1;
    }

    public async Task<bool> AppendLogAsync(JobLease lease, string level, string message, CancellationToken ct)
    {
        await using var db = await contexts.CreateDbContextAsync(ct);
        var now = Now;
        var written = await db.Database.ExecuteSqlAsync($"""
            INSERT INTO job_logs (job_id, time, level, message, attempt)
            SELECT {lease.JobId}, {now}, {level}, {message}, {lease.Attempt}
            WHERE EXISTS (SELECT 1 FROM jobs WHERE id = {lease.JobId} AND status = 'running'
                          AND attempt = {lease.Attempt} AND locked_by = {lease.WorkerId})
            """, ct);
        return written == 1;
    }

    /// <summary>Ends the attempt as failed or cancelled, keeping its progress and adding its usage.</summary>
    public async Task<bool> FinishAsync(JobLease lease, JobStatus status, string message, string? error, int progress,
        JobUsage? usage, OutcomeLog log, CancellationToken ct)
    {
        await using var db = await contexts.CreateDbContextAsync(ct);
        var now = Now;
        return await UpdateAndLogAsync(db, lease.JobId, lease.Attempt, now, log, () => Held(db, lease).ExecuteUpdateAsync(u => AddUsage(u, usage)
            .SetProperty(j => j.Status, status)
            .SetProperty(j => j.Message, message)
            .SetProperty(j => j.Error, error)
            .SetProperty(j => j.Progress, j => j.Progress > progress ? j.Progress : progress)
            .SetProperty(j => j.CompletedAt, now)
            .SetProperty(j => j.UpdatedAt, now)
            .SetProperty(j => j.LockedBy, (string?)null)
            .SetProperty(j => j.LockedUntil, (DateTime?)null), ct), ct);
    }

    /// <summary>Back to pending, due <paramref name="delay"/> after the moment this failure is written; the attempt stays spent.</summary>
    public async Task<bool> RetryLaterAsync(JobLease lease, TimeSpan delay, string message, string error, JobUsage? usage,
        OutcomeLog log, CancellationToken ct)
    {
        await using var db = await contexts.CreateDbContextAsync(ct);
        var now = Now;
        var runAt = now + delay; // one clock reading: updated_at + delay is exactly run_at
        // A cancel asked for meanwhile wins: the job ends cancelled rather than running again.
        return await UpdateAndLogAsync(db, lease.JobId, lease.Attempt, now, log, () => Held(db, lease).ExecuteUpdateAsync(u => AddUsage(u, usage)
            .SetProperty(j => j.Status, j => j.CancelRequested ? JobStatus.Cancelled : JobStatus.Pending)
            .SetProperty(j => j.CompletedAt, j => j.CancelRequested ? now : (DateTime?)null)
            .SetProperty(j => j.Message, j => j.CancelRequested ? "Cancelled" : message)
            .SetProperty(j => j.Error, error)
            .SetProperty(j => j.RunAt, runAt)
            .SetProperty(j => j.UpdatedAt, now)
            .SetProperty(j => j.LockedBy, (string?)null)
            .SetProperty(j => j.LockedUntil, (DateTime?)null), ct), ct);
    }

    /// <summary>
    /// A guarded update and the log line that explains it, in one transaction: both or neither,
    /// so an outcome write retried after an error never logs twice.
    /// </summary>
    static async Task<bool> UpdateAndLogAsync(JobsDbContext db, Guid jobId, int attempt, DateTime now, OutcomeLog log,
        Func<Task<int>> update, CancellationToken ct)
    {
        await using var tx = await db.Database.BeginTransactionAsync(ct);
        if (await update() != 1) return false;
        db.JobLogs.Add(new JobLog { JobId = jobId, Time = now, Level = log.Level, Message = log.Message, Attempt = attempt });
        await db.SaveChangesAsync(ct);
        await tx.CommitAsync(ct);
        return true;
    }

    /// <summary>Shutdown: back to pending at once, and the attempt is given back (it was not the job's fault).</summary>
    public async Task<bool> HandBackAsync(JobLease lease, JobUsage? usage, CancellationToken ct)
    {
        await using var db = await contexts.CreateDbContextAsync(ct);
        var now = Now;
        var written = await Held(db, lease).ExecuteUpdateAsync(u => AddUsage(u, usage)
            .SetProperty(j => j.Status, j => j.CancelRequested ? JobStatus.Cancelled : JobStatus.Pending)
            .SetProperty(j => j.CompletedAt, j => j.CancelRequested ? now : (DateTime?)null)
            .SetProperty(j => j.Attempt, j => j.Attempt - 1)
            .SetProperty(j => j.Progress, 0)
            .SetProperty(j => j.Message, j => j.CancelRequested ? "Cancelled" : "Handed back by a worker that was shutting down")
            .SetProperty(j => j.RunAt, now)
            .SetProperty(j => j.UpdatedAt, now)
            .SetProperty(j => j.LockedBy, (string?)null)
            .SetProperty(j => j.LockedUntil, (DateTime?)null), ct);
        return written == 1;
    }

    /// <summary>
    /// Extends the leases of the jobs this worker is running (<paramref name="ids"/>) and returns
    /// those it still holds, with their cancel flags (how a cancel reaches a SQLite worker).
    /// Only the listed jobs are renewed: a row claimed by a statement whose answer never
    /// arrived (a dropped connection) is not kept alive, so its lease runs out and it is rescued.
    /// </summary>
    public async Task<IReadOnlyList<HeldJob>> RenewLeasesAsync(string workerId, IReadOnlyCollection<Guid> ids, DateTime until, CancellationToken ct)
    {
        if (ids.Count == 0) return [];
        await using var db = await contexts.CreateDbContextAsync(ct);
        await db.Jobs.Where(j => ids.Contains(j.Id) && j.LockedBy == workerId && j.Status == JobStatus.Running)
            .ExecuteUpdateAsync(u => u.SetProperty(j => j.LockedUntil, until), ct);
        return await db.Jobs.AsNoTracking()
            .Where(j => ids.Contains(j.Id) && j.LockedBy == workerId && j.Status == JobStatus.Running)
            .Select(j => new HeldJob(j.Id, j.Attempt, j.CancelRequested))
            .ToListAsync(ct);
    }

    /// <summary>
    /// Rescues up to 100 jobs whose lease expired: back to pending after a backoff, or failed when
    /// no attempt is left. Each update repeats the expiry it saw in its WHERE, so a renewal or a
    /// rescue by another node in between wins and this one changes nothing.
    /// </summary>
    public async Task<int> RescueExpiredAsync(RetryBackoff backoff, CancellationToken ct)
    {
        await using var db = await contexts.CreateDbContextAsync(ct);
        var now = Now;
        var expired = await db.Jobs.AsNoTracking()
            .Where(j => j.Status == JobStatus.Running && j.LockedUntil < now)
            .OrderBy(j => j.LockedUntil).Take(100)
            .Select(j => new { j.Id, j.Attempt, j.MaxAttempts, j.LockedBy, j.CancelRequested })
            .ToListAsync(ct);
        var rescued = 0;
        foreach (var job in expired)
        {
            var exhausted = job.Attempt >= job.MaxAttempts;
            var delay = backoff.After(job.Attempt);
            var why = $"The lease of attempt {job.Attempt} expired: worker {job.LockedBy} stopped renewing it (crashed, killed or cut off).";
            var next = job.CancelRequested ? "A cancel was asked for: cancelled."
                : exhausted ? $"No attempts left ({job.Attempt} of {job.MaxAttempts}): failed." : $"Runs again in {delay.TotalSeconds:0.#} s.";
            var (status, message) = job.CancelRequested ? (JobStatus.Cancelled, "Cancelled (its worker had stopped)")
                : exhausted ? (JobStatus.Failed, "Failed: its worker stopped") : (JobStatus.Pending, "Waiting to run again: its worker stopped");
            var finished = status != JobStatus.Pending;
            var written = await UpdateAndLogAsync(db, job.Id, job.Attempt, now, new OutcomeLog("warning", $"{why} {next}"), () => db.Jobs
                .Where(j => j.Id == job.Id && j.Status == JobStatus.Running && j.Attempt == job.Attempt && j.LockedUntil < now
                            && j.CancelRequested == job.CancelRequested)
                .ExecuteUpdateAsync(u => u
                    .SetProperty(j => j.Status, status)
                    .SetProperty(j => j.Error, job.CancelRequested ? null : why)
                    .SetProperty(j => j.Message, message)
                    .SetProperty(j => j.RunAt, finished ? now : now + delay)
                    .SetProperty(j => j.CompletedAt, finished ? now : null)
                    .SetProperty(j => j.UpdatedAt, now)
                    .SetProperty(j => j.LockedBy, (string?)null)
                    .SetProperty(j => j.LockedUntil, (DateTime?)null), ct), ct);
            if (written) rescued++;
        }
        return rescued;
    }

    static UpdateSettersBuilder<Job> AddUsage(UpdateSettersBuilder<Job> u, JobUsage? usage)
    {
        if (usage is null) return u;
        return u.SetProperty(j => j.PromptTokens, j => (j.PromptTokens ?? 0) + usage.PromptTokens)
            .SetProperty(j => j.CompletionTokens, j => (j.CompletionTokens ?? 0) + usage.CompletionTokens)
            .SetProperty(j => j.TotalTokens, j => (j.TotalTokens ?? 0) + usage.TotalTokens)
            .SetProperty(j => j.CostUsd, j => (j.CostUsd ?? 0) + usage.CostUsd);
    }
}
