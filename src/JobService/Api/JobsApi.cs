using JobService.Data;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Mvc;
using Microsoft.EntityFrameworkCore;

namespace JobService.Api;

/// <summary>
/// The /jobs resource. State changes are single guarded UPDATEs (the allowed current status
/// in the WHERE); "0 rows" is then told apart as 404 or 409 by reading the row.
/// </summary>
public static class JobsApi
{
    public static RouteGroupBuilder MapJobsApi(this IEndpointRouteBuilder app)
    {
        var jobs = app.MapGroup("/jobs").WithTags("Jobs");
        jobs.MapPost("/", CreateJob.Handle).WithName("CreateJob").ProducesProblems(400, 413, 415, 422);
        jobs.MapPost("/batch", CreateJobBatch.Handle).WithName("CreateJobBatch").ProducesProblems(400, 413, 415);
        jobs.MapGet("/", JobQueries.List).WithName("ListJobs").ProducesProblems(400);
        jobs.MapGet("/stats", JobQueries.Stats).WithName("GetJobStats");
        jobs.MapGet("/{id}", GetJob).WithName("GetJob").ProducesProblems(400, 404);
        jobs.MapGet("/{id}/logs", JobQueries.Logs).WithName("GetJobLogs").ProducesProblems(400, 404);
        jobs.MapPost("/{id}/cancel", Cancel).WithName("CancelJob").ProducesProblems(400, 404, 409);
        jobs.MapPost("/{id}/retry", Retry).WithName("RetryJob").ProducesProblems(400, 404, 409);
        jobs.MapDelete("/{id}", Delete).WithName("DeleteJob").ProducesProblems(400, 404, 409);
        return jobs;
    }

    /// <summary>ProblemHttpResult carries no status of its own, so each route lists the errors it can answer with.</summary>
    static RouteHandlerBuilder ProducesProblems(this RouteHandlerBuilder route, params int[] statuses)
    {
        foreach (var status in statuses) route.ProducesProblem(status);
        return route;
    }

    static async Task<Results<Ok<JobResponse>, ProblemHttpResult>> GetJob(Guid id, JobsDbContext db, CancellationToken ct) =>
        await Find(db, id, ct) is { } job ? TypedResults.Ok(JobResponse.From(job)) : JobProblems.NotFound(id);

    /// <summary>Pending: cancelled at once. Running: the flag is set and the worker holding it stops the handler.</summary>
    static async Task<Results<Ok<JobResponse>, ProblemHttpResult>> Cancel(Guid id, [AsParameters] JobsServices s, CancellationToken ct)
    {
        var now = s.Now;
        await using var tx = await s.Db.Database.BeginTransactionAsync(ct);
        var changed = await s.Db.Jobs.Where(j => j.Id == id && j.Status == JobStatus.Pending).ExecuteUpdateAsync(u => u
            .SetProperty(j => j.Status, JobStatus.Cancelled)
            .SetProperty(j => j.Message, "Cancelled before it started")
            .SetProperty(j => j.CompletedAt, now)
            .SetProperty(j => j.UpdatedAt, now), ct);
        if (changed > 0) await tx.CommitAsync(ct);
        else
        {
            changed = await s.Db.Jobs.Where(j => j.Id == id && j.Status == JobStatus.Running).ExecuteUpdateAsync(u => u
                .SetProperty(j => j.CancelRequested, true)
                .SetProperty(j => j.UpdatedAt, now), ct);
            if (changed > 0) await s.Signals.CommitCancelRequestedAsync(s.Db, tx, id, ct);
        }
        return await Outcome(s.Db, id, changed, "cancel", "pending or running", ct);
    }

    /// <summary>Failed or cancelled back to pending, with a fresh set of attempts.</summary>
    static async Task<Results<Ok<JobResponse>, ProblemHttpResult>> Retry(Guid id, [AsParameters] JobsServices s, CancellationToken ct)
    {
        var now = s.Now;
        await using var tx = await s.Db.Database.BeginTransactionAsync(ct);
        var changed = await s.Db.Jobs
            .Where(j => j.Id == id && (j.Status == JobStatus.Failed || j.Status == JobStatus.Cancelled))
            .ExecuteUpdateAsync(u => u
                .SetProperty(j => j.Status, JobStatus.Pending)
                .SetProperty(j => j.Attempt, 0)
                .SetProperty(j => j.Progress, 0)
                .SetProperty(j => j.Message, "Queued for retry")
                .SetProperty(j => j.Error, (string?)null)
                .SetProperty(j => j.Result, (string?)null)
                .SetProperty(j => j.CancelRequested, false)
                .SetProperty(j => j.RunAt, now)
                .SetProperty(j => j.StartedAt, (DateTime?)null)
                .SetProperty(j => j.CompletedAt, (DateTime?)null)
                .SetProperty(j => j.LockedBy, (string?)null)
                .SetProperty(j => j.LockedUntil, (DateTime?)null)
                .SetProperty(j => j.UpdatedAt, now), ct);
        if (changed > 0) await s.Signals.CommitJobsAvailableAsync(s.Db, tx, ct);
        return await Outcome(s.Db, id, changed, "retry", "failed or cancelled", ct);
    }

    /// <summary>Deletes a finished job and its logs; a pending or running job must be cancelled first.</summary>
    static async Task<Results<NoContent, ProblemHttpResult>> Delete(Guid id, JobsDbContext db, CancellationToken ct)
    {
        await using var tx = await db.Database.BeginTransactionAsync(ct);
        var deleted = await db.Jobs
            .Where(j => j.Id == id && (j.Status == JobStatus.Completed || j.Status == JobStatus.Failed || j.Status == JobStatus.Cancelled))
            .ExecuteDeleteAsync(ct);
        if (deleted > 0)
        {
            await db.JobLogs.Where(l => l.JobId == id).ExecuteDeleteAsync(ct);
            await tx.CommitAsync(ct);
            return TypedResults.NoContent();
        }
        return await Find(db, id, ct) is { } job
            ? JobProblems.Conflict(job.Status, "delete", "completed, failed or cancelled")
            : JobProblems.NotFound(id);
    }

    static async Task<Results<Ok<JobResponse>, ProblemHttpResult>> Outcome(
        JobsDbContext db, Guid id, int changed, string action, string allowed, CancellationToken ct)
    {
        var job = await Find(db, id, ct);
        if (job is null) return JobProblems.NotFound(id);
        return changed > 0 ? TypedResults.Ok(JobResponse.From(job)) : JobProblems.Conflict(job.Status, action, allowed);
    }

    internal static Task<Job?> Find(JobsDbContext db, Guid id, CancellationToken ct) =>
        db.Jobs.AsNoTracking().FirstOrDefaultAsync(j => j.Id == id, ct);
}
