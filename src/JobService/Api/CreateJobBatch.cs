using System.ComponentModel;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Mvc;
using Microsoft.EntityFrameworkCore;

namespace JobService.Api;

/// <summary>The body of <c>POST /jobs/batch</c>.</summary>
public sealed record CreateJobBatchRequest(
    [property: Description("1 to 1,000 jobs, each as the body of POST /jobs.")] IReadOnlyList<CreateJobRequest>? Jobs);

public sealed record JobBatchResponse(IReadOnlyList<JobResponse> Items);

/// <summary>
/// POST /jobs/batch: up to 1,000 jobs in one transaction, all or nothing. Every item is
/// validated first; errors name the item (<c>jobs[3].payload.name</c>). With an
/// Idempotency-Key, the same key and body return the same jobs (200), so a client whose batch
/// died in flight can send it again safely; the same key with another body is a 422.
/// </summary>
public static class CreateJobBatch
{
    public const int MaxJobs = 1_000;

    public static async Task<Results<Created<JobBatchResponse>, Ok<JobBatchResponse>, ValidationProblem, ProblemHttpResult>> Handle(
        CreateJobBatchRequest request,
        [FromHeader(Name = Idempotency.Header)] string? idempotencyKeyHeader, // for the OpenAPI document; read below
        HttpRequest http,
        [AsParameters] JobsServices s,
        CancellationToken ct)
    {
        var (key, keyProblem) = Idempotency.Read(http);
        if (keyProblem is not null) return keyProblem;
        if (request.Jobs is not { Count: > 0 and <= MaxJobs } items)
            return Invalid("jobs", $"jobs must hold 1 to {MaxJobs} jobs.");

        var now = s.Now;
        var traceParent = Observability.JobTracing.CurrentTraceParent(); // the worker's span links back to this request
        var errors = new Dictionary<string, string[]>();
        var jobs = new List<Data.Job>(items.Count);
        for (var i = 0; i < items.Count; i++)
        {
            if (items[i] is null) { errors[$"jobs[{i}]"] = ["The job must be an object."]; continue; }
            var (job, itemErrors) = JobSubmission.Validate(items[i], s.Registry, s.Webhooks.Value, now, $"jobs[{i}].");
            foreach (var (field, messages) in itemErrors) errors[field] = messages;
            if (job is null) continue;
            job.TraceParent = traceParent;
            jobs.Add(job);
        }
        if (errors.Count > 0) return TypedResults.ValidationProblem(errors, title: "Some jobs in the batch are invalid; none was created");
        var tenant = s.Caller.TenantId;
        foreach (var job in jobs) job.TenantId = tenant;

        if (key is not null)
        {
            var hash = JobSubmission.Hash(request); // the whole batch is "the same request", not each job
            for (var i = 0; i < jobs.Count; i++) (jobs[i].IdempotencyKey, jobs[i].RequestHash) = (Idempotency.BatchItemKey(key, i), hash);
            if (await Replay(s.Db, tenant, key, hash, jobs.Count, ct) is { } replay) return replay;
        }
        try
        {
            await s.Transitions.CreateAsync(s.Db, jobs, "POST /jobs/batch", s.MaxActiveJobs, ct);
        }
        catch (Transitions.JobTransitions.QuotaExceededException quota)
        {
            return JobProblems.QuotaExceeded(quota, http.HttpContext.Response); // the whole batch is refused
        }
        catch (Transitions.DuplicateJobException) when (key is not null)
        {
            // The same batch committed first from another request (a client retrying in flight): answer with its jobs.
            // Deleted again before this read (by another client, in between): nothing to answer with but a 409 to send it again.
            if (await Replay(s.Db, tenant, key, jobs[0].RequestHash!, jobs.Count, ct) is { } raced) return raced;
            return TypedResults.Problem(title: "Idempotency key in use", detail: $"Another request with the Idempotency-Key '{key.Clip(100)}' " +
                "changed its jobs while this one was stored; send the batch again.", statusCode: StatusCodes.Status409Conflict);
        }
        return TypedResults.Created((string?)null, new JobBatchResponse(jobs.Select(JobResponse.From).ToList()));
    }

    /// <summary>
    /// The answer for a key already used: the stored batch (200), a 422 for another body, or a 409
    /// when some of its jobs were deleted since (it cannot be returned whole, nor made again under
    /// keys its other jobs still hold). Null when none of its jobs is stored: the key is free again,
    /// as a single job's is once its job is deleted.
    /// </summary>
    static async Task<Results<Created<JobBatchResponse>, Ok<JobBatchResponse>, ValidationProblem, ProblemHttpResult>?> Replay(
        Data.JobsDbContext db, string tenant, string key, string hash, int count, CancellationToken ct)
    {
        var keys = Enumerable.Range(0, count).Select(i => Idempotency.BatchItemKey(key, i)).ToList();
        var stored = await db.Jobs.AsNoTracking().Where(j => j.TenantId == tenant && keys.Contains(j.IdempotencyKey!)).ToListAsync(ct);
        if (stored.Count == 0) return null;
        var byKey = stored.ToDictionary(j => j.IdempotencyKey!);
        if (stored.Any(j => j.RequestHash != hash)) return JobProblems.IdempotencyMismatch(key, keys.Select(byKey.GetValueOrDefault).First(j => j is not null)!.Id);
        if (stored.Count < count)
            return TypedResults.Problem(title: "Idempotency key's batch partly deleted",
                detail: $"{count - stored.Count} of the {count} jobs created under the Idempotency-Key '{key.Clip(100)}' were deleted since, " +
                        "so the batch cannot be returned whole; use a new key to submit it again.",
                statusCode: StatusCodes.Status409Conflict,
                extensions: new Dictionary<string, object?> { ["job_ids"] = stored.Select(j => j.Id).ToList() });
        return TypedResults.Ok(new JobBatchResponse(keys.Select(k => JobResponse.From(byKey[k])).ToList()));
    }

    static ValidationProblem Invalid(string field, string message) =>
        TypedResults.ValidationProblem(new Dictionary<string, string[]> { [field] = [message] }, title: "The batch is invalid");
}
