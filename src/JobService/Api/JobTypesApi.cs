using System.Text.Json;
using JobService.Handlers;
using Microsoft.AspNetCore.Http.HttpResults;

namespace JobService.Api;

/// <summary>GET /job-types: every registered type with its defaults and payload JSON Schema.</summary>
public static class JobTypesApi
{
    public static IEndpointRouteBuilder MapJobTypesApi(this IEndpointRouteBuilder app)
    {
        app.MapGet("/job-types", List).WithTags("Job types").WithName("ListJobTypes")
            .WithSummary("The job types this service runs")
            .WithDescription("Each type with its timeout, attempts, per-worker concurrency and the JSON Schema its payload must validate " +
                "against: what POST /jobs accepts and refuses, exactly.")
            .ProducesProblems(401, 403, 429).Reads();
        return app;
    }

    static Ok<List<JobTypeResponse>> List(JobTypeRegistry registry) => TypedResults.Ok(registry.All
        .OrderBy(t => t.Name, StringComparer.Ordinal)
        .Select(t => new JobTypeResponse(t.Name, t.Description, t.TimeoutSeconds, t.MaxAttempts, t.Concurrency,
            JsonSerializer.SerializeToElement(t.PayloadSchema)))
        .ToList());
}
