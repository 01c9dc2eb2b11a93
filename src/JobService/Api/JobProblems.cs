using JobService.Data;
using Microsoft.AspNetCore.Http.HttpResults;

namespace JobService.Api;

/// <summary>The ProblemDetails the jobs API answers with, worded once.</summary>
public static class JobProblems
{
    public static ProblemHttpResult NotFound(Guid id) =>
        TypedResults.Problem(title: "Job not found", detail: $"There is no job with id {id}.", statusCode: StatusCodes.Status404NotFound);

    /// <summary>409 naming the job's current status: "Cannot cancel a completed job."</summary>
    public static ProblemHttpResult Conflict(JobStatus current, string action, string allowed) =>
        TypedResults.Problem(
            title: "Transition not allowed",
            detail: $"Cannot {action} a {current.ToName()} job: its status is '{current.ToName()}', and {action} is allowed only for {allowed} jobs.",
            statusCode: StatusCodes.Status409Conflict,
            extensions: new Dictionary<string, object?> { ["current_status"] = current.ToName() });

    public static ProblemHttpResult IdempotencyMismatch(string key, Guid existing) =>
        TypedResults.Problem(
            title: "Idempotency key reused",
            detail: $"The Idempotency-Key '{key}' was first used for job {existing} with a different request body; " +
                    "send the same body to get that job back, or use a new key.",
            statusCode: StatusCodes.Status422UnprocessableEntity,
            extensions: new Dictionary<string, object?> { ["job_id"] = existing });

    /// <summary>
    /// 429 of the quota type (not the rate limit's): the tenant has too many pending and running jobs
    /// cluster-wide. Retry-After is a hint: room comes back as jobs finish.
    /// </summary>
    /// <param name="done">What was not done, in the past tense: "stored" (a submit), "requeued" (a retry).</param>
    public static ProblemHttpResult QuotaExceeded(Transitions.JobTransitions.QuotaExceededException quota, HttpResponse response, string done = "stored")
    {
        response.Headers.RetryAfter = "10";
        response.HttpContext.RequestServices.GetRequiredService<Hosting.JobServiceMetrics>().RequestRateLimited(Auth.RateLimited.QuotaPolicy);
        return TypedResults.Problem(
            type: Auth.RateLimited.QuotaType,
            title: "Active job quota exceeded",
            detail: quota.Message + $" Nothing was {done}; try again when some jobs have finished.",
            statusCode: StatusCodes.Status429TooManyRequests,
            extensions: new Dictionary<string, object?> { ["active_jobs"] = quota.Active, ["max_active_jobs"] = quota.Max });
    }

    /// <summary>
    /// What a request that names a tenant (tenant_id) is refused with, if anything: a name no tenant
    /// can have (400, with <paramref name="field"/> in <c>errors</c> as a validation problem has it: it never
    /// reaches a query) or another tenant without the admin scope (403).
    /// </summary>
    public static ProblemHttpResult? TenantRefusal(Auth.Caller caller, string? requested, string field = "tenant_id")
    {
        if (requested is not null && requested != "*" && !Auth.TenantName.IsValid(requested))
        {
            var rule = $"tenant_id is a tenant's id ({Auth.TenantName.Rule}), or * for every tenant.";
            return TypedResults.Problem(title: "The tenant_id is invalid", detail: rule, statusCode: StatusCodes.Status400BadRequest,
                extensions: new Dictionary<string, object?> { ["errors"] = new Dictionary<string, string[]> { [field] = [rule] } });
        }
        return caller.MayAsk(requested) ? null : OtherTenant(requested!);
    }

    /// <summary>403 shaped like a missing scope's: another tenant's jobs are for admin keys.</summary>
    static ProblemHttpResult OtherTenant(string requested) =>
        TypedResults.Problem(
            title: "Forbidden",
            detail: $"This API key lacks the scope '{Auth.Scope.Admin}', which tenant_id={requested.Clip(100)} needs: a key sees its own tenant's jobs.",
            statusCode: StatusCodes.Status403Forbidden,
            extensions: new Dictionary<string, object?> { ["missing_scope"] = Auth.Scope.Admin });
}
