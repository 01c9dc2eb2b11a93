using System.Net;
using System.Text;
using System.Text.Json;
using JobService.Tests.Infrastructure;

namespace JobService.Tests.Api;

/// <summary>Swagger UI is served over a document that describes every endpoint and its errors.</summary>
public sealed class OpenApiTests(SqliteApp app) : IClassFixture<SqliteApp>
{
    [Fact]
    public async Task SwaggerUiIsServedAtSwagger()
    {
        var response = await app.CreateClient().GetAsync("/swagger/index.html");
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Contains("swagger-ui", await response.Content.ReadAsStringAsync());
    }

    [Theory]
    [InlineData("/jobs", "post", "201 400 413 415 422")]
    [InlineData("/jobs", "get", "200 400")]
    [InlineData("/jobs/{id}", "get", "200 400 404")]
    [InlineData("/jobs/{id}", "delete", "204 400 404 409")]
    [InlineData("/jobs/{id}/cancel", "post", "200 400 404 409")]
    [InlineData("/jobs/{id}/retry", "post", "200 400 404 409")]
    [InlineData("/jobs/{id}/logs", "get", "200 400 404")]
    [InlineData("/jobs/stats", "get", "200")]
    [InlineData("/job-types", "get", "200")]
    public async Task TheDocumentDescribesEachEndpointWithItsResponses(string path, string method, string statuses)
    {
        var document = await (await app.CreateClient().GetAsync("/swagger/v1/swagger.json")).ReadJsonAsync();

        var operation = document.GetProperty("paths").GetProperty(path).GetProperty(method);
        var responses = operation.GetProperty("responses");
        foreach (var status in statuses.Split(' '))
            Assert.True(responses.TryGetProperty(status, out _), $"{method} {path} does not document {status}: {responses}");
    }

    async Task<JsonElement> DocumentAsync() => await (await app.CreateClient().GetAsync("/swagger/v1/swagger.json")).ReadJsonAsync();

    static IEnumerable<(string Path, string Method, JsonElement Operation)> Operations(JsonElement document) =>
        document.GetProperty("paths").EnumerateObject().SelectMany(path => path.Value.EnumerateObject()
            .Where(m => m.Name is "get" or "post" or "put" or "delete" or "patch").Select(m => (path.Name, m.Name, m.Value)));

    [Fact]
    public async Task EveryOperationSaysWhatItDoesAndEveryParameterWhatItAccepts()
    {
        var document = await DocumentAsync();

        var operations = Operations(document).ToList();
        Assert.True(operations.Count >= 14, $"only {operations.Count} operations");
        foreach (var (path, method, operation) in operations)
        {
            Assert.False(string.IsNullOrWhiteSpace(operation.TryGetProperty("summary", out var s) ? s.GetString() : null), $"{method} {path}: no summary");
            Assert.False(string.IsNullOrWhiteSpace(operation.TryGetProperty("description", out var d) ? d.GetString() : null), $"{method} {path}: no description");
            foreach (var parameter in operation.TryGetProperty("parameters", out var ps) ? ps.EnumerateArray() : Enumerable.Empty<JsonElement>())
                Assert.False(string.IsNullOrWhiteSpace(parameter.TryGetProperty("description", out var pd) ? pd.GetString() : null),
                    $"{method} {path}: parameter {parameter.GetProperty("name")} says nothing of what it accepts");
        }
        Assert.Contains(Operations(document), o => o.Path == "/health/ready");
        var status = Operations(document).Single(o => o.Path == "/jobs" && o.Method == "get").Operation.GetProperty("parameters")
            .EnumerateArray().Single(p => p.GetProperty("name").GetString() == "status");
        Assert.Equal(["pending", "running", "completed", "failed", "cancelled"],
            status.GetProperty("schema").GetProperty("items").GetProperty("enum").EnumerateArray().Select(v => v.GetString()));
    }

    /// <summary>Regression: Swagger UI offered "payload": "string" and "max_attempts": 0, which submit refuses.</summary>
    [Fact]
    public async Task EveryRequestBodyExampleSucceedsAsItIs()
    {
        var document = await DocumentAsync();
        var client = app.CreateClient();
        var sent = 0;

        foreach (var (path, method, operation) in Operations(document))
        {
            if (!operation.TryGetProperty("requestBody", out var body)) continue;
            var example = body.GetProperty("content").GetProperty("application/json").GetProperty("example");
            var concrete = path.Replace("{type}", "echo"); // a path parameter needs a value that exists
            var response = await client.SendAsync(new HttpRequestMessage(new HttpMethod(method), concrete) { Content = Http.Json(example.GetRawText()) });
            Assert.True((int)response.StatusCode < 400, $"{method} {path}: {(int)response.StatusCode} {await response.Content.ReadAsStringAsync()}");
            sent++;
        }
        Assert.Equal(7, sent); // POST /jobs, /jobs/batch, /api-keys, /jobs/bulk/{cancel,retry,delete} and /job-types/{type}/pause
    }

    /// <summary>Swagger UI's Authorize button: a Bearer scheme that every operation asks for, so "Try it out" sends the key.</summary>
    /// <summary>Regression: a payload filter's values were described as .NET's JsonNode (options, parent, root), so no valid request matched the schema.</summary>
    [Fact]
    public async Task APayloadFiltersValuesAreAnyJsonValueNotDotNetsTypes()
    {
        var document = await DocumentAsync();

        var text = document.GetProperty("components").GetProperty("schemas").GetRawText();
        Assert.DoesNotContain("\"parent\"", text);
        Assert.DoesNotContain("\"root\"", text);
        var payload = document.GetProperty("components").GetProperty("schemas").GetProperty("BulkFilter").GetProperty("properties").GetProperty("payload");
        Assert.Contains("additionalProperties", payload.GetRawText());
    }

    [Fact]
    public async Task TheDocumentDeclaresTheBearerSchemeForTheAuthorizeButton()
    {
        var document = await DocumentAsync();

        var scheme = document.GetProperty("components").GetProperty("securitySchemes").GetProperty("Bearer");
        Assert.Equal("http", scheme.Str("type"));
        Assert.Equal("bearer", scheme.Str("scheme"));
        var required = document.GetProperty("security").EnumerateArray().SelectMany(r => r.EnumerateObject()).Select(p => p.Name);
        Assert.Contains("Bearer", required);
    }

    [Fact]
    public async Task ValidationErrorsAreDocumentedWithTheirFieldErrors()
    {
        var document = await DocumentAsync();

        var bad = document.GetProperty("paths").GetProperty("/jobs").GetProperty("post").GetProperty("responses").GetProperty("400")
            .GetProperty("content").GetProperty("application/problem+json").GetProperty("schema").GetProperty("$ref").GetString()!;
        var schema = document.GetProperty("components").GetProperty("schemas").GetProperty(bad.Split('/')[^1]);
        Assert.True(schema.GetProperty("properties").TryGetProperty("errors", out _), schema.ToString());
        var batch = document.GetProperty("paths").GetProperty("/jobs/batch").GetProperty("post").GetProperty("parameters");
        Assert.Contains(batch.EnumerateArray(), p => p.GetProperty("name").GetString() == "Idempotency-Key");
    }

    /// <summary>
    /// Regression: no schema listed what an answer always carries (a client generated from the
    /// document made every field optional), and CreateJobRequest.type was nullable, not required.
    /// Each answer here is checked against its schema: every required field present, none unknown.
    /// </summary>
    [Fact]
    public async Task EveryAnswerCarriesTheFieldsItsSchemaRequiresAndNoOthers()
    {
        var document = await DocumentAsync();
        var client = app.CreateClient();
        var created = await client.PostAsync("/jobs", Http.Json("""{"type": "echo", "payload": {"text": "shapes"}}"""));
        var id = (await created.ReadJsonAsync()).Str("id"); // this host runs no workers: the job stays pending, its nulls unset

        foreach (var (path, operation) in new[] { ($"/jobs/{id}", "GetJob"), ("/jobs", "ListJobs"), ("/jobs/stats?window=1h&bucket=10m", "GetJobStats"),
                     ("/job-types", "ListJobTypes"), ($"/jobs/{id}/logs", "GetJobLogs"), ("/workers", "ListWorkers") })
        {
            var schema = Operations(document).Single(o => o.Operation.TryGetProperty("operationId", out var name) && name.GetString() == operation)
                .Operation.GetProperty("responses").GetProperty("200").GetProperty("content").GetProperty("application/json").GetProperty("schema");
            var answer = await (await client.GetAsync(path)).ReadJsonAsync();
            var each = answer.ValueKind == JsonValueKind.Array ? schema.GetProperty("items") : schema;
            Assert.True(Parts(document, each).Any(p => p.TryGetProperty("required", out _)), $"{operation}: the schema requires nothing");
            CheckAgainst(document, schema, answer, operation);
        }

        var request = document.GetProperty("components").GetProperty("schemas").GetProperty("CreateJobRequest");
        Assert.Equal(["type"], request.GetProperty("required").EnumerateArray().Select(r => r.GetString()));
        Assert.False(request.GetProperty("properties").GetProperty("type").TryGetProperty("nullable", out _), request.ToString());
    }

    /// <summary>Every field the schema requires is in the answer, and every field of the answer is in the schema, through $refs, allOf and arrays.</summary>
    static void CheckAgainst(JsonElement document, JsonElement schema, JsonElement value, string where)
    {
        var parts = Parts(document, schema).ToList();
        if (value.ValueKind == JsonValueKind.Array && parts.FirstOrDefault(p => p.TryGetProperty("items", out _)) is { ValueKind: JsonValueKind.Object } array)
            foreach (var item in value.EnumerateArray()) CheckAgainst(document, array.GetProperty("items"), item, $"{where}[]");
        var properties = parts.Where(p => p.TryGetProperty("properties", out _)).SelectMany(p => p.GetProperty("properties").EnumerateObject())
            .ToDictionary(p => p.Name, p => p.Value);
        if (value.ValueKind != JsonValueKind.Object || properties.Count == 0) return;
        foreach (var name in parts.Where(p => p.TryGetProperty("required", out _)).SelectMany(p => p.GetProperty("required").EnumerateArray()))
            Assert.True(value.TryGetProperty(name.GetString()!, out _), $"{where}: the answer lacks the required {name}: {value}");
        var open = parts.Any(p => p.TryGetProperty("additionalProperties", out _));
        foreach (var field in value.EnumerateObject())
        {
            if (properties.TryGetValue(field.Name, out var property)) CheckAgainst(document, property, field.Value, $"{where}.{field.Name}");
            else Assert.True(open, $"{where}: the answer's {field.Name} is not in the schema");
        }
    }

    /// <summary>A schema with its $ref followed and its allOf flattened.</summary>
    static IEnumerable<JsonElement> Parts(JsonElement document, JsonElement schema)
    {
        if (schema.TryGetProperty("$ref", out var reference))
            schema = document.GetProperty("components").GetProperty("schemas").GetProperty(reference.GetString()!.Split('/')[^1]);
        yield return schema;
        if (schema.TryGetProperty("allOf", out var all))
            foreach (var part in all.EnumerateArray().SelectMany(p => Parts(document, p))) yield return part;
    }

    /// <summary>
    /// Regression: the document had no 304, If-None-Match or ETag for GET /jobs/{id}, no Location
    /// on a 201, and described a 409's and a 422's bodies without the fields a client acts on.
    /// </summary>
    [Fact]
    public async Task ConditionalReadsCreationsAndProblemFieldsAreDescribedAsTheyAreAnswered()
    {
        var document = await DocumentAsync();
        var client = app.CreateClient();
        var get = document.GetProperty("paths").GetProperty("/jobs/{id}").GetProperty("get");
        Assert.True(get.GetProperty("responses").TryGetProperty("304", out _));
        Assert.True(get.GetProperty("responses").GetProperty("200").GetProperty("headers").TryGetProperty("ETag", out _));
        Assert.Contains(get.GetProperty("parameters").EnumerateArray(), p => p.Str("name") == "If-None-Match" && p.Str("in") == "header");
        var submit = document.GetProperty("paths").GetProperty("/jobs").GetProperty("post").GetProperty("responses");
        Assert.True(submit.GetProperty("201").GetProperty("headers").TryGetProperty("Location", out _));

        var created = await client.PostAsync("/jobs", Http.Json("""{"type": "echo", "payload": {"text": "cancel me twice"}, "run_at": "2999-01-01T00:00:00Z"}"""));
        var id = (await created.ReadJsonAsync()).Str("id");
        Assert.Equal($"/jobs/{id}", created.Headers.Location?.ToString());
        await client.PostAsync($"/jobs/{id}/cancel", null);
        var conflict = await (await client.PostAsync($"/jobs/{id}/cancel", null)).ShouldBeProblemAsync(HttpStatusCode.Conflict);
        var conflictSchema = document.GetProperty("paths").GetProperty("/jobs/{id}/cancel").GetProperty("post").GetProperty("responses").GetProperty("409")
            .GetProperty("content").GetProperty("application/problem+json").GetProperty("schema");
        CheckAgainst(document, conflictSchema, conflict, "409");
        Assert.Contains("current_status", conflictSchema.GetRawText() + document.GetProperty("components").GetProperty("schemas").GetProperty("TransitionConflictProblem").GetRawText());

        var keyed = new HttpRequestMessage(HttpMethod.Post, "/jobs") { Content = Http.Json("""{"type": "echo", "payload": {"text": "a"}}""") };
        keyed.Headers.Add("Idempotency-Key", $"shapes-{Guid.NewGuid()}");
        var again = new HttpRequestMessage(HttpMethod.Post, "/jobs") { Content = Http.Json("""{"type": "echo", "payload": {"text": "b"}}""") };
        again.Headers.Add("Idempotency-Key", keyed.Headers.GetValues("Idempotency-Key").Single());
        await client.SendAsync(keyed);
        var mismatch = await (await client.SendAsync(again)).ShouldBeProblemAsync(HttpStatusCode.UnprocessableEntity);
        CheckAgainst(document, submit.GetProperty("422").GetProperty("content").GetProperty("application/problem+json").GetProperty("schema"), mismatch, "422");
    }

    [Fact]
    public async Task TheDocumentUsesSnakeCaseAndLowerCaseStatuses()
    {
        var text = await app.CreateClient().GetStringAsync("/swagger/v1/swagger.json");
        Assert.Contains("\"max_attempts\"", text);
        Assert.Contains("\"cancel_requested\"", text);
        Assert.Contains("\"pending\"", text);
        Assert.DoesNotContain("\"MaxAttempts\"", text);
        Assert.DoesNotContain("\"Pending\"", text);
    }

    [Fact]
    public async Task AChunkedBodyOverTheLimitIs413()
    {
        var body = Encoding.UTF8.GetBytes($"{{\"type\": \"greet\", \"payload\": {{\"name\": \"{new string('x', 1_200_000)}\"}}}}");
        var content = new StreamContent(new MemoryStream(body));
        content.Headers.ContentType = new("application/json");
        var request = new HttpRequestMessage(HttpMethod.Post, "/jobs") { Content = content };
        request.Headers.TransferEncodingChunked = true;

        var response = await app.CreateClient().SendAsync(request);

        var problem = await response.ShouldBeProblemAsync(HttpStatusCode.RequestEntityTooLarge);
        Assert.Contains("Api:MaxRequestBodyBytes", problem.Str("detail"));
    }
}
