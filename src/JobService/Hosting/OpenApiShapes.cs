using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Mvc;
using Microsoft.OpenApi;
using Swashbuckle.AspNetCore.SwaggerGen;

namespace JobService.Hosting;

/// <summary>
/// What the OpenAPI document cannot learn from the handlers' types: which fields an answer always
/// carries, the fields a problem adds to ProblemDetails, and the headers of conditional reads,
/// creations and refusals. A client generated from the document relies on each.
/// </summary>
static class OpenApiShapes
{
    /// <summary>
    /// Answers write every field, null or not, so each answer's schema lists all of them as required.
    /// A request's fields are optional (each missing one gets its default, or a 400 naming it),
    /// except those a request cannot go without.
    /// </summary>
    public sealed class RequiredFields : ISchemaFilter
    {
        static readonly Dictionary<Type, string[]> RequestRequires = new()
        {
            [typeof(Api.CreateJobRequest)] = ["type"],
            [typeof(Api.CreateJobBatchRequest)] = ["jobs"],
            [typeof(Auth.CreateApiKeyRequest)] = ["name", "tenant_id", "scopes"],
        };

        public void Apply(IOpenApiSchema model, SchemaFilterContext context)
        {
            if (model is not OpenApiSchema { Properties.Count: > 0 } schema || context.Type.Namespace?.StartsWith("JobService") != true) return;
            if (IsRequest(context.Type))
            {
                if (!RequestRequires.TryGetValue(context.Type, out var required)) return;
                schema.Required = new SortedSet<string>(required);
                // Nullable in C# only so that a missing one is a named field error, not an unreadable body.
                foreach (var name in required)
                    if (schema.Properties![name] is OpenApiSchema property) property.Type &= ~JsonSchemaType.Null;
                return;
            }
            schema.Required = new SortedSet<string>(schema.Properties!.Keys);
        }

        static bool IsRequest(Type type) => type.Name.EndsWith("Request", StringComparison.Ordinal) || type == typeof(Api.BulkFilter);
    }

    /// <summary>The extra fields of the problems a client acts on, and the headers of 201, 304, 429 and 503.</summary>
    public sealed class ProblemsAndHeaders : IOperationFilter
    {
        public void Apply(OpenApiOperation operation, OperationFilterContext context)
        {
            if (operation.Responses is not { } responses) return;
            var id = operation.OperationId;
            if (id is "CancelJob" or "RetryJob" or "DeleteJob")
                Extend(responses, "409", context, "TransitionConflictProblem", "current_status",
                    new OpenApiSchema { Type = JsonSchemaType.String, Enum = Data.JobStatusNames.All.Select(s => (JsonNode)JsonValue.Create(s)).ToList(),
                        Description = "The job's status, which the action is not allowed from." });
            if (id is "CreateJob" or "CreateJobBatch")
                Extend(responses, "422", context, "IdempotencyMismatchProblem", "job_id",
                    new OpenApiSchema { Type = JsonSchemaType.String, Format = "uuid", Description = "The job the Idempotency-Key was first used for." });
            if (id == "CreateJob" && responses.TryGetValue("201", out var created))
                Header(created, "Location", "/jobs/{id}: the new job.");
            if (id == "GetJob")
            {
                Header(responses["200"], "ETag", "The job's event seq, quoted (\"12\"): send it back in If-None-Match.");
                responses["304"] = new OpenApiResponse { Description = "Not Modified: the job is as it was when the ETag sent in If-None-Match was given (no body)." };
                (operation.Parameters ??= []).Add(new OpenApiParameter
                {
                    Name = "If-None-Match", In = ParameterLocation.Header, Schema = new OpenApiSchema { Type = JsonSchemaType.String },
                    Description = "An ETag this endpoint gave (\"12\", or W/\"12\"; several separated by commas): 304 while the job has not changed.",
                });
            }
            foreach (var (status, why) in new[] { ("429", "Seconds until a request may pass."), ("503", "Seconds until the service may be back.") })
                if (responses.TryGetValue(status, out var refused)) Header(refused, "Retry-After", why);
        }

        /// <summary>The response's problem schema becomes ProblemDetails plus one required field, defined once as a component.</summary>
        static void Extend(OpenApiResponses responses, string status, OperationFilterContext context, string name, string field, OpenApiSchema schema)
        {
            if (!responses.TryGetValue(status, out var response) || response.Content is null) return;
            if (!context.SchemaRepository.Schemas.ContainsKey(name))
            {
                var problem = context.SchemaGenerator.GenerateSchema(typeof(ProblemDetails), context.SchemaRepository);
                context.SchemaRepository.AddDefinition(name, new OpenApiSchema
                {
                    AllOf = [problem, new OpenApiSchema { Type = JsonSchemaType.Object, Properties = new Dictionary<string, IOpenApiSchema> { [field] = schema }, Required = new HashSet<string> { field } }],
                });
            }
            foreach (var media in response.Content.Values.OfType<OpenApiMediaType>()) media.Schema = new OpenApiSchemaReference(name, context.Document);
        }

        static void Header(IOpenApiResponse response, string name, string description)
        {
            if (response is OpenApiResponse r)
                (r.Headers ??= new Dictionary<string, IOpenApiHeader>())[name] = new OpenApiHeader { Description = description, Schema = new OpenApiSchema { Type = JsonSchemaType.String } };
        }
    }
}
