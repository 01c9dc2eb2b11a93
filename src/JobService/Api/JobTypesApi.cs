using System.Text.Json;
using JobService.Handlers;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.EntityFrameworkCore;

namespace JobService.Api;

/// <summary>GET /job-types: every registered type with its defaults and payload JSON Schema.</summary>
public static class JobTypesApi
{
    public static IEndpointRouteBuilder MapJobTypesApi(this IEndpointRouteBuilder app)
    {
        app.MapGet("/job-types", List).WithTags("Job types").WithName("ListJobTypes")
            .WithSummary("The job types this service runs")
            .WithDescription("Each type with its timeout, attempts, per-worker concurrency and the JSON Schema its payload must validate " +
                "against: what POST /jobs accepts and refuses, exactly; and paused, when its claims are paused (POST /job-types/{type}/pause).")
            .ProducesProblems(401, 403, 429).Reads();
        return app;
    }

    /// <summary>Every type, with its pause when it is paused now (a pause whose time passed is over).</summary>
    static async Task<Ok<List<JobTypeResponse>>> List(JobTypeRegistry registry, Data.JobsDbContext db, TimeProvider time, CancellationToken ct)
    {
        var now = time.GetUtcNow().UtcDateTime;
        var pauses = await db.JobTypePauses.AsNoTracking().Where(p => p.PausedUntil == null || p.PausedUntil > now).ToDictionaryAsync(p => p.Type, ct);
        return TypedResults.Ok(registry.All.OrderBy(t => t.Name, StringComparer.Ordinal).Select(t => Response(t, pauses.GetValueOrDefault(t.Name))).ToList());
    }

    public static JobTypeResponse Response(JobTypeDefinition t, Data.JobTypePause? pause) =>
        new(t.Name, t.Description, t.TimeoutSeconds, t.MaxAttempts, t.Concurrency, JsonSerializer.SerializeToElement(t.PayloadSchema),
            pause is null ? null : new JobTypePauseResponse(pause.PausedUntil, pause.PausedAt, pause.PausedBy));
}
