using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace JobService.Hosting;

/// <summary>
/// GET /health/live and /health/ready as JSON: the overall status, and each check's status,
/// description and duration. Minimal-API routes rather than MapHealthChecks, so that other
/// methods get 405 and Swagger documents them.
/// </summary>
public static class HealthApi
{
    public static IEndpointRouteBuilder MapHealthApi(this IEndpointRouteBuilder app)
    {
        var health = app.MapGroup("/health").WithTags("Health");
        health.MapGet("/live", (HealthCheckService checks, CancellationToken ct) => Check(checks, _ => false, ct))
            .WithName("Liveness").WithSummary("Liveness: the process answers")
            .WithDescription("200 while the process runs. Checks nothing else, so that a slow database never restarts a healthy process.")
            .Produces<HealthResponse>(StatusCodes.Status503ServiceUnavailable);
        health.MapGet("/ready", (HealthCheckService checks, CancellationToken ct) => Check(checks, c => c.Tags.Contains("ready"), ct))
            .WithName("Readiness").WithSummary("Readiness: the database answers and is migrated")
            .WithDescription("200 when every readiness check is healthy; 503 otherwise (the database is unreachable, or migrations are not applied yet).")
            .Produces<HealthResponse>(StatusCodes.Status503ServiceUnavailable);
        return app;
    }

    static async Task<Results<Ok<HealthResponse>, JsonHttpResult<HealthResponse>>> Check(
        HealthCheckService checks, Func<HealthCheckRegistration, bool> predicate, CancellationToken ct)
    {
        var report = await checks.CheckHealthAsync(predicate, ct);
        var body = new HealthResponse(Name(report.Status), report.TotalDuration.TotalMilliseconds,
            report.Entries.ToDictionary(e => e.Key, e => new HealthCheckEntry(Name(e.Value.Status), e.Value.Description, e.Value.Duration.TotalMilliseconds)));
        return report.Status == HealthStatus.Unhealthy
            ? TypedResults.Json(body, statusCode: StatusCodes.Status503ServiceUnavailable)
            : TypedResults.Ok(body);
    }

    static string Name(HealthStatus status) => status.ToString().ToLowerInvariant();
}

/// <summary>The health report: <c>healthy</c>, <c>degraded</c> or <c>unhealthy</c>, with each check.</summary>
public sealed record HealthResponse(string Status, double TotalDurationMs, IReadOnlyDictionary<string, HealthCheckEntry> Checks);

public sealed record HealthCheckEntry(string Status, string? Description, double DurationMs);
