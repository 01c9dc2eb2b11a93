using JobService.Data;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Mvc;
using Microsoft.EntityFrameworkCore;

namespace JobService.Api;

/// <summary>
/// POST /jobs. With an Idempotency-Key, the same key and body return the first job (200),
/// never a second one; the same key with another body is a 422. The unique index on the key
/// (per tenant) settles a race between two identical requests. The job belongs to the caller's tenant.
/// </summary>
public static class CreateJob
{
    public static async Task<Results<Created<JobResponse>, Ok<JobResponse>, ValidationProblem, ProblemHttpResult>> Handle(
        CreateJobRequest request,
        [FromHeader(Name = Idempotency.Header)] string? idempotencyKeyHeader, // for the OpenAPI document; read below
        HttpRequest http,
        [AsParameters] JobsServices s,
        CancellationToken ct)
    {
        var (idempotencyKey, keyProblem) = Idempotency.Read(http);
        if (keyProblem is not null) return keyProblem;

        var (job, errors) = JobSubmission.Validate(request, s.Registry, s.Webhooks.Value, s.Now);
        if (job is null) return TypedResults.ValidationProblem(errors, title: "The job request is invalid");
        job.IdempotencyKey = idempotencyKey;
        if (idempotencyKey is not null) job.RequestHash = JobSubmission.Hash(request);
        job.TraceParent = Observability.JobTracing.CurrentTraceParent(); // the worker's span links back to this request
        job.TenantId = s.Caller.TenantId; // from the key, never from the body

        if (idempotencyKey is not null && await Replay(s.Db, job, ct) is { } replay) return replay;
        try
        {
            // Stored with the submits that come while the one before them commits; acknowledged
            // from here on: the row is durable.
            await s.Transitions.SubmitAsync(s.Db, job, s.MaxActiveJobs);
        }
        catch (Transitions.JobTransitions.QuotaExceededException quota)
        {
            return JobProblems.QuotaExceeded(quota, http.HttpContext.Response);
        }
        catch (Transitions.DuplicateJobException) when (idempotencyKey is not null)
        {
            // Another request with the same key committed first: answer with its job.
            if (await Replay(s.Db, job, ct) is { } raced) return raced;
            throw;
        }
        return TypedResults.Created($"/jobs/{job.Id}", JobResponse.From(job));
    }

    static async Task<Results<Created<JobResponse>, Ok<JobResponse>, ValidationProblem, ProblemHttpResult>?> Replay(
        JobsDbContext db, Job candidate, CancellationToken ct)
    {
        var first = await db.Jobs.AsNoTracking().FirstOrDefaultAsync(j => j.TenantId == candidate.TenantId && j.IdempotencyKey == candidate.IdempotencyKey, ct);
        if (first is null) return null;
        return first.RequestHash == candidate.RequestHash
            ? TypedResults.Ok(JobResponse.From(first))
            : JobProblems.IdempotencyMismatch(candidate.IdempotencyKey!, first.Id);
    }
}
