using JobService.Data;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Mvc;
using Microsoft.EntityFrameworkCore;

namespace JobService.Api;

/// <summary>
/// The /jobs resource. State changes go through the transition seam (a guarded statement with
/// the allowed current status in its WHERE, and its event); "nothing changed" is then told apart
/// as 404 or 409 by reading the row.
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

    /// <summary>The job, with its event seq as ETag: a poller sending If-None-Match gets 304 while nothing changed.</summary>
    static async Task<Results<Ok<JobResponse>, StatusCodeHttpResult, ProblemHttpResult>> GetJob(
        Guid id, JobsDbContext db, Transitions.IJobDriver driver, HttpContext http, CancellationToken ct)
    {
        if (await driver.Reads(db).ExecuteAsync(token => Find(db, id, token), ct) is not { } job) return JobProblems.NotFound(id);
        var etag = $"\"{job.EventSeq}\"";
        http.Response.Headers.ETag = etag;
        if (http.Request.Headers.IfNoneMatch.Any(v => v is not null && v.Split(',').Any(t => t.Trim() == etag || t.Trim() == "*")))
            return TypedResults.StatusCode(StatusCodes.Status304NotModified);
        return TypedResults.Ok(JobResponse.From(job));
    }

    /// <summary>Pending: cancelled at once. Running: the flag is set and the worker holding it stops the handler.</summary>
    static async Task<Results<Ok<JobResponse>, ProblemHttpResult>> Cancel(Guid id, [AsParameters] JobsServices s, CancellationToken ct)
    {
        var changed = await s.Transitions.CancelAsync(s.Db, id, ct);
        // A second cancel of a job already being stopped changes nothing and is answered like the first.
        return await Outcome(s.Db, id, changed is not null, "cancel", "pending or running", ct,
            alreadyDone: j => j.Status == JobStatus.Running && j.CancelRequested);
    }

    /// <summary>Failed or cancelled back to pending, with a fresh set of attempts.</summary>
    static async Task<Results<Ok<JobResponse>, ProblemHttpResult>> Retry(Guid id, [AsParameters] JobsServices s, CancellationToken ct)
    {
        var changed = await s.Transitions.RequeueAsync(s.Db, id, $"POST /jobs/{id}/retry", ct);
        return await Outcome(s.Db, id, changed is not null, "retry", "failed or cancelled", ct);
    }

    /// <summary>Deletes a finished job and its events; a pending or running job must be cancelled first.</summary>
    static async Task<Results<NoContent, ProblemHttpResult>> Delete(Guid id, [AsParameters] JobsServices s, CancellationToken ct)
    {
        if (await s.Transitions.DeleteAsync(s.Db, id, ct)) return TypedResults.NoContent();
        return await Find(s.Db, id, ct) is { } job
            ? JobProblems.Conflict(job.Status, "delete", "completed, failed or cancelled")
            : JobProblems.NotFound(id);
    }

    /// <summary>"Nothing changed" told apart: 404 when there is no such job, 409 naming its status when the transition is not allowed.</summary>
    static async Task<Results<Ok<JobResponse>, ProblemHttpResult>> Outcome(
        JobsDbContext db, Guid id, bool changed, string action, string allowed, CancellationToken ct, Func<Job, bool>? alreadyDone = null)
    {
        var job = await Find(db, id, ct);
        if (job is null) return JobProblems.NotFound(id);
        return changed || alreadyDone?.Invoke(job) == true ? TypedResults.Ok(JobResponse.From(job)) : JobProblems.Conflict(job.Status, action, allowed);
    }

    internal static Task<Job?> Find(JobsDbContext db, Guid id, CancellationToken ct) =>
        db.Jobs.AsNoTracking().FirstOrDefaultAsync(j => j.Id == id, ct);
}
