using System.Text.Json.Nodes;
using Microsoft.OpenApi;
using Swashbuckle.AspNetCore.SwaggerGen;

namespace JobService.Hosting;

/// <summary>
/// The OpenAPI document behind Swagger UI: what each parameter accepts (values, ranges, formats),
/// and request examples that succeed as they are when a user clicks "Try it out".
/// </summary>
public static class OpenApiSetup
{
    public static IServiceCollection AddJobServiceOpenApi(this IServiceCollection services)
    {
        services.AddEndpointsApiExplorer();
        services.AddSwaggerGen(o =>
        {
            o.SwaggerDoc("v1", new OpenApiInfo
            {
                Title = "JobService",
                Version = "v1",
                Description = "Long-running LLM generation jobs: submit, follow progress (0–100) and the model's text live, read logs, " +
                              "cancel, retry. Every error is an RFC 7807 ProblemDetails. The contract: docs/api.md and docs/events.md.",
            });
            o.SupportNonNullableReferenceTypes();
            // Any JSON value (a payload filter's values): described by its type, a JsonNode was .NET's own
            // properties (options, parent, root), which no request can send.
            o.MapType<JsonNode>(() => new OpenApiSchema());
            o.UseAllOfToExtendReferenceSchemas(); // a property that is an object keeps its description (a bare $ref cannot carry one)
            o.OperationFilter<ParameterDocs>();
            o.OperationFilter<OpenApiShapes.ProblemsAndHeaders>();
            o.SchemaFilter<OpenApiShapes.RequiredFields>();
            // What Swagger UI's Authorize button sends: Authorization: Bearer <key> (when Auth:Enabled).
            o.AddSecurityDefinition("Bearer", new OpenApiSecurityScheme
            {
                Type = SecuritySchemeType.Http, Scheme = "bearer", BearerFormat = "jsk_…",
                Description = "An API key (jsk_ and 32 letters or digits), when Auth:Enabled. See docs/security.md.",
            });
            o.AddSecurityRequirement(document => new OpenApiSecurityRequirement { [new OpenApiSecuritySchemeReference("Bearer", document)] = [] });
        });
        return services;
    }

    /// <summary>Describes each query, path and header parameter, and sets the request examples.</summary>
    sealed class ParameterDocs : IOperationFilter
    {
        public void Apply(OpenApiOperation operation, OperationFilterContext context)
        {
            foreach (var parameter in operation.Parameters?.OfType<OpenApiParameter>() ?? [])
                Describe(operation.OperationId, parameter);
            if (Examples.TryGetValue(operation.OperationId ?? "", out var example) && operation.RequestBody?.Content is { } content)
                foreach (var media in content.Values.OfType<OpenApiMediaType>()) media.Example = JsonNode.Parse(example);
        }

        static void Describe(string? operation, OpenApiParameter p)
        {
            var schema = p.Schema as OpenApiSchema;
            switch (p.Name)
            {
                case "id":
                    p.Description = "The job's id, a UUID (version 7). Not a UUID: 400; no such job: 404.";
                    break;
                case "status":
                    p.Description = "One or more of pending, running, completed, failed, cancelled, lower case: repeat the parameter (status=failed&status=cancelled) or separate with commas.";
                    if (schema?.Items is OpenApiSchema items) items.Enum = Data.JobStatusNames.All.Select(s => (JsonNode)JsonValue.Create(s)!).ToList();
                    break;
                case "type" when operation is "PauseJobType" or "ResumeJobType":
                    p.Description = "The job type to pause or resume (GET /job-types lists them).";
                    break;
                case "type":
                    p.Description = "A job type name (GET /job-types lists them): a lower-case letter, then lower-case letters, digits, '_', '.' or '-'; at most 100 characters." +
                        (operation == "ListJobs" ? " One or several: repeat the parameter or separate with commas. Payload fields filter too: payload.theme=fantasy (see docs/api.md)." : "");
                    break;
                case "id_prefix":
                    p.Description = "Jobs whose id starts with this: 1 to 36 hexadecimal digits, with the id's dashes where they fall (0190ab12-3f).";
                    break;
                case "window":
                    p.Description = "With bucket: add a time series of the last window (90s, 15m, 1h, 24h, 7d; at most 31 days) in buckets of bucket.";
                    break;
                case "bucket":
                    p.Description = "The time series' bucket (10s at least; at most 1,440 buckets in the window): 1m for the last hour per minute, 1h for the last day per hour.";
                    break;
                case "created_after" or "created_before":
                    p.Description = $"Jobs created {(p.Name == "created_after" ? "at or after" : "before")} this time, ISO 8601 (2026-11-01T00:00:00Z).";
                    break;
                case "limit" when operation == "GetJobLogs":
                    (p.Description, schema!.Minimum, schema.Maximum) = ("Lines per page: 1 to 1000, default 100.", "1", "1000");
                    break;
                case "limit":
                    (p.Description, schema!.Minimum, schema.Maximum) = ("Jobs per page: 1 to 500, default 50.", "1", "500");
                    break;
                case "offset":
                    (p.Description, schema!.Minimum, schema.Maximum) = ("Jobs to skip: 0 to 100,000 (deeper: narrow with created_before).", "0", "100000");
                    break;
                case "after":
                    (p.Description, schema!.Minimum) = ("A line's seq: the lines after it (0 or absent: from the first).", "0");
                    break;
                case "Idempotency-Key":
                    p.Description = "1 to 200 printable characters, sent once. The same key with the same body returns the first answer (200); with another body, 422.";
                    break;
                case "Last-Event-ID" or "last_event_id" when operation == "StreamJobEvents":
                    p.Description = "Resume after this event seq (a whole number): every later event is sent, then live ones. The header wins over the query parameter.";
                    break;
                case "Last-Event-ID" or "last_event_id":
                    p.Description = "Resume after this cursor (an id the stream sent: t followed by digits).";
                    break;
                case "lastEventId":
                    p.Description = "The same as last_event_id, under the name EventSource polyfills add on a reconnect.";
                    break;
                case "job_id":
                    p.Description = "Only these jobs (UUIDs; repeat the parameter, at most 100).";
                    break;
                case "tenant_id" when operation == "ListApiKeys":
                    p.Description = "Only this tenant's keys.";
                    break;
                case "tenant_id":
                    p.Description = "Admin keys only: another tenant's jobs (tenant_id=acme) or every tenant's (tenant_id=*). Without it, the key's own tenant; a key without admin naming another tenant gets 403.";
                    break;
                case "include":
                    p.Description = "log, output or log,output: add those kinds; needs 1 to 20 job_id values.";
                    break;
            }
        }

        /// <summary>Bodies that succeed as they are ("Try it out" sends them unchanged).</summary>
        static readonly Dictionary<string, string> Examples = new()
        {
            ["CreateJob"] = """{"type": "text_generation", "payload": {"prompt": "A haiku about queues", "max_tokens": 60}, "priority": 0}""",
            ["CreateApiKey"] = """{"name": "acme frontend", "tenant_id": "acme", "scopes": ["jobs:read", "jobs:write", "events:read"]}""",
            ["BulkCancelJobs"] = """{"ids": ["0190a6f4-58c3-7b0e-9d3a-2a7c4c1e8b10"]}""",
            ["BulkRetryJobs"] = """{"filter": {"status": ["failed"], "type": ["text_generation"]}, "max": 100}""",
            ["BulkDeleteJobs"] = """{"filter": {"status": ["completed"], "created_before": "2026-01-01T00:00:00Z"}, "max": 1000}""",
            ["PauseJobType"] = """{"until": "2030-01-01T00:00:00Z"}""",
            ["CreateJobBatch"] = """{"jobs": [{"type": "echo", "payload": {"text": "first"}}, {"type": "echo", "payload": {"text": "second"}, "priority": 5}]}""",
        };
    }
}
