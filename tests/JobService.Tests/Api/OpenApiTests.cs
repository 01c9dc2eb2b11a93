using System.Net;
using System.Text;
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
