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
