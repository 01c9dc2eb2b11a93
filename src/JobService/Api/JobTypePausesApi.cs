using System.ComponentModel;
using JobService.Auth;
using JobService.Data;
using JobService.Handlers;
using JobService.Transitions;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Mvc;
using Microsoft.EntityFrameworkCore;

namespace JobService.Api;

public sealed record PauseRequest(
    [property: Description("Optional: the pause ends by itself at this time (ISO 8601, in the future). Absent: until resumed.")] DateTimeOffset? Until = null);

/// <summary>A type's pause as GET /job-types shows it.</summary>
public sealed record JobTypePauseResponse(
    [property: Description("When the pause ends by itself; null: until resumed.")] DateTime? Until,
    DateTime PausedAt,
    [property: Description("Who paused it: an API key's id, or anonymous with auth off.")] string PausedBy);

/// <summary>
/// POST /job-types/{type}/pause and /resume: no worker claims a paused type's jobs (an LLM
/// provider that is down or rate-limited) until it is resumed or the pause's time passes; running
/// jobs go on, and submits are still accepted. The state is a row in job_type_pauses; every node
/// hears of a change at once (NOTIFY on PostgreSQL, in-process on SQLite) and reads the table again.
/// A type is shared by every tenant, so pausing takes the admin scope.
/// </summary>
public static class JobTypePausesApi
{
    public static IEndpointRouteBuilder MapJobTypePausesApi(this IEndpointRouteBuilder app)
    {
        var types = app.MapGroup("/job-types/{type}").WithTags("Job types").ProducesProblems(400, 401, 403, 404, 429, 503)
            .RequireAuthorization(Scope.Admin).RequireRateLimiting(Auth.AuthSetup.ReadLimit);
        types.MapPost("/pause", Pause).WithName("PauseJobType")
            .WithSummary("Pause a job type: no new claims until resumed")
            .WithDescription("Workers stop claiming this type's jobs within a second, on every instance; running jobs go on and submits are " +
                "still accepted. With until, the pause ends by itself then. Answers the type as GET /job-types shows it. Scope admin: types are shared by every tenant.");
        types.MapPost("/resume", Resume).TakesNoBody().WithName("ResumeJobType")
            .WithSummary("Resume a paused job type")
            .WithDescription("Workers claim the type's pending jobs again at once. Resuming a type that is not paused changes nothing (200).");
        return app;
    }

    static async Task<Results<Ok<JobTypeResponse>, ValidationProblem, ProblemHttpResult>> Pause(string type,
        [FromBody(EmptyBodyBehavior = Microsoft.AspNetCore.Mvc.ModelBinding.EmptyBodyBehavior.Allow)] PauseRequest? body,
        JobsConnections connections, JobTypeRegistry registry, IJobDriver driver, TimeProvider time, System.Security.Claims.ClaimsPrincipal user,
        ILoggerFactory logs, CancellationToken ct)
    {
        if (registry.Find(type) is not { } definition) return UnknownType(type, registry);
        var now = time.GetUtcNow().UtcDateTime;
        if (body?.Until is { } until && until.UtcDateTime <= now)
            return TypedResults.ValidationProblem(new Dictionary<string, string[]> { ["until"] = ["until must be in the future; leave it out to pause until resumed."] }, title: "The pause request is invalid");
        var who = Caller.From(user).KeyId is { } key ? $"key {key}" : "anonymous";
        var pause = new JobTypePause { Type = type, PausedUntil = body?.Until?.UtcDateTime, PausedAt = now, PausedBy = who };
        // One statement: a type paused again (or by two requests at once) has its row updated, not a second one refused.
        await connections.ExecuteAsync("""
            INSERT INTO job_type_pauses (type, paused_until, paused_at, paused_by) VALUES (@type, @until, @now, @who)
            ON CONFLICT (type) DO UPDATE SET paused_until = excluded.paused_until, paused_at = excluded.paused_at, paused_by = excluded.paused_by
            """, ct, driver, ("type", type), ("until", pause.PausedUntil), ("now", now), ("who", who));
        driver.Notifier.Publish(new Notice.PausesChanged());
        logs.CreateLogger(typeof(JobTypePausesApi)).LogInformation("Job type {Type} paused {Until} by {Who}", type,
            pause.PausedUntil is { } u ? $"until {u:O}" : "until resumed", who);
        return TypedResults.Ok(JobTypesApi.Response(definition, pause));
    }

    static async Task<Results<Ok<JobTypeResponse>, ProblemHttpResult>> Resume(string type, JobsDbContext db, JobTypeRegistry registry,
        IJobDriver driver, System.Security.Claims.ClaimsPrincipal user, ILoggerFactory logs, CancellationToken ct)
    {
        if (registry.Find(type) is not { } definition) return UnknownType(type, registry);
        if (await db.JobTypePauses.Where(p => p.Type == type).ExecuteDeleteAsync(ct) > 0)
        {
            driver.Notifier.Publish(new Notice.PausesChanged());
            driver.Notifier.Publish(new Notice.JobsAvailable());
            logs.CreateLogger(typeof(JobTypePausesApi)).LogInformation("Job type {Type} resumed by {Who}", type,
                Caller.From(user).KeyId is { } key ? $"key {key}" : "anonymous");
        }
        return TypedResults.Ok(JobTypesApi.Response(definition, null));
    }

    static ProblemHttpResult UnknownType(string type, JobTypeRegistry registry) =>
        TypedResults.Problem(title: "Job type not found",
            detail: $"There is no job type '{type.Clip(100)}'. Known types: {string.Join(", ", registry.Names)}.", statusCode: StatusCodes.Status404NotFound);
}
