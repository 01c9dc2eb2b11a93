using JobService.Data;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Mvc;
using Microsoft.EntityFrameworkCore;
using JobService.Auth;

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
        var jobs = app.MapGroup("/jobs").WithTags("Jobs").ProducesProblems(401, 403, 429);
        jobs.MapPost("/", CreateJob.Handle).WithName("CreateJob").ProducesProblems(400, 413, 415, 422, 503).Writes(AuthSetup.SubmitLimit)
            .WithSummary("Submit a job")
            .WithDescription("Stores the job and answers 201 with it (Location: /jobs/{id}); a worker picks it up at once. The payload is " +
                "validated against its type's JSON Schema (GET /job-types): a bad one is a 400 naming each field. With an Idempotency-Key, " +
                "the same key and body return the first job (200), never a second one; another body with the key is a 422.");
        jobs.MapPost("/batch", CreateJobBatch.Handle).WithName("CreateJobBatch").ProducesProblems(400, 409, 413, 415, 422, 503).Writes(AuthSetup.SubmitLimit)
            .WithSummary("Submit 1 to 1,000 jobs at once")
            .WithDescription("One transaction, all or nothing: a bad item is a 400 naming it (jobs[3].payload.name) and nothing is stored. " +
                "With an Idempotency-Key, the same key and body return the same jobs (200), so a batch that died in flight can be sent again.");
        jobs.MapGet("/", JobQueries.List).WithName("ListJobs").ProducesProblems(400, 503).Reads()
            .WithSummary("List jobs, newest first")
            .WithDescription("The caller's tenant's jobs, filtered by status, type and creation time, paged with limit and offset, all in SQL: " +
                "{items, total, limit, offset}. An admin key may name another tenant (tenant_id=acme) or every tenant (tenant_id=*).");
        jobs.MapGet("/stats", JobQueries.Stats).WithName("GetJobStats").ProducesProblems(503).Reads()
            .WithSummary("Counts by status and by type, with LLM usage")
            .WithDescription("The caller's tenant's jobs (an admin may pass tenant_id, or * for every tenant): every status present " +
                "(0 when none), and tokens and cost summed, from one SQL GROUP BY.");
        jobs.MapGet("/{id}", GetJob).WithName("GetJob").ProducesProblems(400, 404, 503).Reads()
            .WithSummary("A job: status, progress, message, result or error")
            .WithDescription("Answers with ETag: the job's event seq. Send it back in If-None-Match to get 304 while nothing changed.");
        jobs.MapGet("/{id}/logs", JobQueries.Logs).WithName("GetJobLogs").ProducesProblems(400, 404, 503).Reads()
            .WithSummary("A job's log, oldest first")
            .WithDescription("The handler's lines and the service's own story (created, claimed, each model call, retries, the outcome), " +
                "paged by seq: after and limit; next_after is set when the page is full.");
        jobs.MapPost("/{id}/cancel", Cancel).TakesNoBody().WithName("CancelJob").ProducesProblems(400, 404, 409, 503).Writes(AuthSetup.ReadLimit)
            .WithSummary("Cancel a job")
            .WithDescription("A pending job is cancelled at once; a running one gets cancel_requested and its handler is stopped wherever it runs. " +
                "A finished job is a 409 naming its status.");
        jobs.MapPost("/{id}/retry", Retry).TakesNoBody().WithName("RetryJob").ProducesProblems(400, 404, 409, 429, 503).Writes(AuthSetup.ReadLimit)
            .WithSummary("Run a failed or cancelled job again")
            .WithDescription("Back to pending with a fresh set of attempts; any other status is a 409 naming it.");
        jobs.MapDelete("/{id}", Delete).TakesNoBody().WithName("DeleteJob").ProducesProblems(400, 404, 409, 503).Writes(AuthSetup.ReadLimit)
            .WithSummary("Delete a finished job")
            .WithDescription("The job and its events go (204). A pending or running job is a 409: cancel it first.");
        return jobs;
    }

    /// <summary>
    /// ProblemHttpResult carries no status of its own, so each route lists the errors it can answer
    /// with; a 400 is a validation problem, whose schema has the per-field <c>errors</c>.
    /// </summary>
    internal static TBuilder ProducesProblems<TBuilder>(this TBuilder route, params int[] statuses) where TBuilder : IEndpointConventionBuilder
    {
        foreach (var status in statuses)
        {
            if (status == StatusCodes.Status400BadRequest) route.WithMetadata(new ProducesResponseTypeMetadata(status, typeof(HttpValidationProblemDetails), ["application/problem+json"]));
            else route.WithMetadata(new ProducesResponseTypeMetadata(status, typeof(ProblemDetails), ["application/problem+json"]));
        }
        return route;
    }

    /// <summary>A read of the caller's jobs: scope jobs:read, the read rate limit.</summary>
    internal static TBuilder Reads<TBuilder>(this TBuilder route) where TBuilder : IEndpointConventionBuilder =>
        route.RequireAuthorization(Scope.JobsRead).RequireRateLimiting(AuthSetup.ReadLimit);

    /// <summary>A change to the caller's jobs: scope jobs:write, under the given rate limit (submits have their own bucket).</summary>
    static RouteHandlerBuilder Writes(this RouteHandlerBuilder route, string limit) =>
        route.RequireAuthorization(Scope.JobsWrite).RequireRateLimiting(limit);

    /// <summary>The job, with its event seq as ETag: a poller sending If-None-Match gets 304 while nothing changed.</summary>
    static async Task<Results<Ok<JobResponse>, StatusCodeHttpResult, ProblemHttpResult>> GetJob(
        Guid id, JobPolls polls, Transitions.IJobDriver driver, HttpContext http, CancellationToken ct)
    {
        var tenant = Caller.From(http.User).JobTenant;
        if (await driver.ReadAsync(_ => polls.FindAsync(id, tenant), ct) is not { } job) return JobProblems.NotFound(id);
        var etag = $"\"{job.EventSeq}\"";
        http.Response.Headers.ETag = etag;
        if (Matches(http.Request.Headers.IfNoneMatch, etag)) return TypedResults.StatusCode(StatusCodes.Status304NotModified);
        return TypedResults.Ok(JobResponse.From(job));
    }

    /// <summary>If-None-Match compares weakly (RFC 9110 13.1.2): W/"7" is our "7", as a proxy that compressed the body marked it.</summary>
    static bool Matches(Microsoft.Extensions.Primitives.StringValues ifNoneMatch, string etag) =>
        ifNoneMatch.Any(v => v is not null && v.Split(',').Any(t => t.Trim() is var tag
            && (tag == "*" || (tag.StartsWith("W/", StringComparison.Ordinal) ? tag[2..] : tag) == etag)));

    /// <summary>Pending: cancelled at once. Running: the flag is set and the worker holding it stops the handler.</summary>
    static async Task<Results<Ok<JobResponse>, ProblemHttpResult>> Cancel(Guid id, [AsParameters] JobsServices s, CancellationToken ct)
    {
        if (await s.FindJobAsync(id, ct) is null) return JobProblems.NotFound(id); // another tenant's job does not exist
        var changed = await s.Transitions.CancelAsync(s.Db, id, ct);
        // A second cancel of a job already being stopped changes nothing and is answered like the first.
        return await Outcome(s, id, changed, "cancel", "pending or running", ct,
            alreadyDone: j => j.Status == JobStatus.Running && j.CancelRequested);
    }

    /// <summary>Failed or cancelled back to pending, with a fresh set of attempts.</summary>
    static async Task<Results<Ok<JobResponse>, ProblemHttpResult>> Retry(Guid id, [AsParameters] JobsServices s, HttpContext http, CancellationToken ct)
    {
        if (await s.FindJobAsync(id, ct) is null) return JobProblems.NotFound(id);
        try
        {
            var changed = await s.Transitions.RequeueAsync(s.Db, id, $"POST /jobs/{id}/retry", s.MaxActiveJobs, ct);
            return await Outcome(s, id, changed, "retry", "failed or cancelled", ct);
        }
        catch (Transitions.JobTransitions.QuotaExceededException quota)
        {
            return JobProblems.QuotaExceeded(quota, http.Response, done: "requeued");
        }
    }

    /// <summary>Deletes a finished job and its events; a pending or running job must be cancelled first.</summary>
    static async Task<Results<NoContent, ProblemHttpResult>> Delete(Guid id, [AsParameters] JobsServices s, CancellationToken ct)
    {
        if (await s.FindJobAsync(id, ct) is null) return JobProblems.NotFound(id);
        if (await s.Transitions.DeleteAsync(s.Db, id, ct)) return TypedResults.NoContent();
        return await s.FindJobAsync(id, ct) is { } job
            ? JobProblems.Conflict(job.Status, "delete", "completed, failed or cancelled")
            : JobProblems.NotFound(id);
    }

    /// <summary>
    /// "Nothing changed" told apart: 404 when there is no such job, 409 naming its status when the
    /// transition is not allowed. A change is answered with the job as the transition left it: a
    /// worker may claim or finish it between the commit and the read, and a 200 saying "completed"
    /// would not tell the client whether its cancel took.
    /// </summary>
    static async Task<Results<Ok<JobResponse>, ProblemHttpResult>> Outcome(
        JobsServices s, Guid id, Transitions.JobRow? changed, string action, string allowed, CancellationToken ct, Func<Job, bool>? alreadyDone = null)
    {
        var job = await s.FindJobAsync(id, ct);
        if (job is null) return JobProblems.NotFound(id);
        if (changed is not null) return TypedResults.Ok(JobResponse.From(AsLeftBy(job, changed)));
        return alreadyDone?.Invoke(job) == true ? TypedResults.Ok(JobResponse.From(job)) : JobProblems.Conflict(job.Status, action, allowed);
    }

    /// <summary>The job read after a transition, with what the transition's own row says where a later change moved it on.</summary>
    static Job AsLeftBy(Job job, Transitions.JobRow row)
    {
        if (job.EventSeq == row.EventSeq) return job;
        (job.Status, job.Attempt, job.MaxAttempts, job.CancelRequested, job.Progress, job.Message, job.Error) =
            (row.Status, row.Attempt, row.MaxAttempts, row.CancelRequested, row.Progress, row.Message, row.Error);
        (job.RunAt, job.StartedAt, job.CompletedAt, job.EventSeq) = (row.RunAt, row.StartedAt, row.CompletedAt, row.EventSeq);
        if (row.Status != JobStatus.Completed) job.Result = null; // a later run's answer was not there yet
        return job;
    }
}
