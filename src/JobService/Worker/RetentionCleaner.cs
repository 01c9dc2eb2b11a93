using JobService.Data;
using Microsoft.EntityFrameworkCore;
using JobService.Hosting;
using Microsoft.Extensions.Options;

namespace JobService.Worker;

/// <summary>
/// Deletes finished jobs (and their logs) older than their status's retention, in batches,
/// oldest first. Safe on every node: deleting a deleted row does nothing.
/// </summary>
public sealed class RetentionCleaner(
    IDbContextFactory<JobsDbContext> contexts, TimeProvider time, DatabaseReady database, IOptions<RetentionOptions> options,
    ILogger<RetentionCleaner> log)
    : BackgroundService
{
    public async Task<int> CleanOnceAsync(CancellationToken ct)
    {
        var o = options.Value;
        var deleted = 0;
        foreach (var (status, hours) in new[] { (JobStatus.Completed, o.CompletedHours), (JobStatus.Failed, o.FailedHours), (JobStatus.Cancelled, o.CancelledHours) })
        {
            if (hours <= 0) continue;
            var cutoff = time.GetUtcNow().UtcDateTime.AddHours(-hours);
            while (!ct.IsCancellationRequested)
            {
                await using var db = await contexts.CreateDbContextAsync(ct);
                var ids = await db.Jobs.Where(j => j.Status == status && j.CompletedAt < cutoff)
                    .OrderBy(j => j.CompletedAt).Take(o.BatchSize).Select(j => j.Id).ToListAsync(ct);
                if (ids.Count == 0) break;
                await using var tx = await db.Database.BeginTransactionAsync(ct);
                // The job delete repeats the status and age: a job retried meanwhile stays, with its
                // logs; then only the logs of jobs that are really gone go with them.
                deleted += await db.Jobs.Where(j => ids.Contains(j.Id) && j.Status == status && j.CompletedAt < cutoff).ExecuteDeleteAsync(ct);
                await db.JobLogs.Where(l => ids.Contains(l.JobId) && !db.Jobs.Any(j => j.Id == l.JobId)).ExecuteDeleteAsync(ct);
                await tx.CommitAsync(ct);
                if (ids.Count < o.BatchSize) break;
            }
        }
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
