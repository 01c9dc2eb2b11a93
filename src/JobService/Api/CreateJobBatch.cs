using System.ComponentModel;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Mvc;

namespace JobService.Api;

/// <summary>The body of <c>POST /jobs/batch</c>.</summary>
public sealed record CreateJobBatchRequest(
    [property: Description("1 to 1,000 jobs, each as the body of POST /jobs.")] IReadOnlyList<CreateJobRequest>? Jobs);

public sealed record JobBatchResponse(IReadOnlyList<JobResponse> Items);

/// <summary>
/// POST /jobs/batch: up to 1,000 jobs in one transaction, all or nothing. Every item is
/// validated first; errors name the item (<c>jobs[3].payload.name</c>). Idempotency keys are
/// per job and so not taken here: the header is refused rather than silently ignored.
/// </summary>
public static class CreateJobBatch
{
    public const int MaxJobs = 1_000;

    public static async Task<Results<Created<JobBatchResponse>, ValidationProblem>> Handle(
        CreateJobBatchRequest request,
        [FromHeader(Name = "Idempotency-Key")] string? idempotencyKey,
        [AsParameters] JobsServices s,
        CancellationToken ct)
    {
        if (idempotencyKey is not null)
            return Invalid("Idempotency-Key", "Idempotency-Key is not supported on /jobs/batch; submit the jobs one by one to use it.");
        if (request.Jobs is not { Count: > 0 and <= MaxJobs } items)
            return Invalid("jobs", $"jobs must hold 1 to {MaxJobs} jobs.");

        var now = s.Now;
        var errors = new Dictionary<string, string[]>();
        var jobs = new List<Data.Job>(items.Count);
        for (var i = 0; i < items.Count; i++)
        {
            if (items[i] is null) { errors[$"jobs[{i}]"] = ["The job must be an object."]; continue; }
            var (job, itemErrors) = JobSubmission.Validate(items[i], s.Registry, now, $"jobs[{i}].");
            foreach (var (field, messages) in itemErrors) errors[field] = messages;
            if (job is not null) jobs.Add(job);
        }
        if (errors.Count > 0) return TypedResults.ValidationProblem(errors, title: "Some jobs in the batch are invalid; none was created");

        await s.Transitions.CreateAsync(s.Db, jobs, "POST /jobs/batch", ct);
        return TypedResults.Created((string?)null, new JobBatchResponse(jobs.Select(JobResponse.From).ToList()));
    }

    static ValidationProblem Invalid(string field, string message) =>
        TypedResults.ValidationProblem(new Dictionary<string, string[]> { [field] = [message] }, title: "The batch is invalid");
}
