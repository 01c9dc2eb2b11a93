using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;

namespace JobService.Tests.Infrastructure;

/// <summary>Small assertions over HTTP answers, so tests read as behaviour.</summary>
public static class Http
{
    public static StringContent Json(string body) => new(body, Encoding.UTF8, "application/json");

    public static async Task<JsonElement> ReadJsonAsync(this HttpResponseMessage response) =>
        await response.Content.ReadFromJsonAsync<JsonElement>();

    /// <summary>Asserts an RFC 7807 answer with this status and returns its body.</summary>
    public static async Task<JsonElement> ShouldBeProblemAsync(this HttpResponseMessage response, HttpStatusCode status)
    {
        // A stream that opened where a problem was expected never ends: say so rather than read it.
        if (response.StatusCode != status && response.Content.Headers.ContentType?.MediaType == "text/event-stream")
            Assert.Fail($"Expected {(int)status}, got {(int)response.StatusCode}: an event stream opened");
        var text = await response.Content.ReadAsStringAsync();
        Assert.True(status == response.StatusCode, $"Expected {(int)status}, got {(int)response.StatusCode}: {text}");
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        var problem = JsonDocument.Parse(text).RootElement;
        Assert.Equal((int)status, problem.GetProperty("status").GetInt32());
        Assert.False(string.IsNullOrWhiteSpace(problem.GetProperty("title").GetString()));
        return problem;
    }

    public static string Str(this JsonElement e, string name) => e.GetProperty(name).GetString()!;

    public static Guid Id(this JsonElement job) => job.GetProperty("id").GetGuid();
}
