using System.ClientModel;
using System.Text.Json;
using JobService.Api;
using JobService.Data;
using JobService.Tests.Infrastructure;
using OpenAI;
using OpenAI.Chat;

namespace JobService.Tests.Llm;

/// <summary>
/// The LLM job types against llama.cpp's real llama-server (not a server of ours, which would
/// share our assumptions): streaming, the server's own usage, finish reasons, its chat template's
/// rules, and cancellation mid-stream.
/// </summary>
public sealed class LlamaServerTests(LlamaServer llama) : IClassFixture<LlamaServer>, IAsyncLifetime
{
    WorkerApp _app = null!;

    public ValueTask InitializeAsync()
    {
        if (llama.EnsureAvailable() is { } server) _app = new WorkerApp(TestDatabase.Sqlite(), server.ProviderSettings(), realClock: true);
        return ValueTask.CompletedTask;
    }

    public async ValueTask DisposeAsync()
    {
        if (_app is not null) await _app.DisposeAsync();
    }

    [Fact]
    public async Task TextGenerationStreamsFromARealServerAndRecordsItsUsage()
    {
        var id = await _app.SubmitAsync(new { type = "text_generation", payload = new { prompt = "Tell me about queues.", max_tokens = 60 } });
        var job = await _app.WaitForAsync(id, j => j.Status == JobStatus.Completed, "completed", TimeSpan.FromSeconds(60));

        var result = JsonDocument.Parse(job.Result!).RootElement;
        var text = result.GetProperty("text").GetString()!;
        Assert.False(string.IsNullOrWhiteSpace(text));
        Assert.Contains(result.GetProperty("finish_reason").GetString(), new[] { "stop", "length" });
        var usage = JobResponse.From(job).Usage!;
        Assert.Equal((LlamaServer.Model, "llama", false), (usage.Model, usage.Provider, usage.Estimated)); // the server's own usage chunk
        Assert.True(usage.PromptTokens > 5, $"prompt tokens {usage.PromptTokens}");
        Assert.InRange(usage.CompletionTokens, 1, 60);
        Assert.Equal(usage.PromptTokens / 1e6 + usage.CompletionTokens * 2 / 1e6, usage.CostUsd, 12);
        var events = await _app.EventsAsync(id);
        var streamed = "";
        foreach (var e in events.Where(e => e.Kind == "output"))
        {
            var o = JsonDocument.Parse(e.Data!).RootElement;
            streamed = streamed[..o.GetProperty("offset").GetInt32()] + o.GetProperty("text").GetString();
        }
        Assert.Equal(text, streamed);
        Assert.Contains(events, e => e.Kind == "usage" && e.Message!.StartsWith($"Model call: {LlamaServer.Model} via llama"));
    }

    [Fact]
    public async Task AnAnswerCutOffByMaxTokensIsMarkedTruncated()
    {
        // At temperature 0 the tiny model repeats one word and never ends by itself: max_tokens ends it.
        var id = await _app.SubmitAsync(new { type = "text_generation", payload = new { prompt = "Go on.", max_tokens = 8, temperature = 0.0 } });
        var job = await _app.WaitForAsync(id, j => j.Status == JobStatus.Completed, "completed", TimeSpan.FromSeconds(60));

        var result = JsonDocument.Parse(job.Result!).RootElement;
        Assert.Equal(("length", true), (result.GetProperty("finish_reason").GetString(), result.GetProperty("truncated").GetBoolean()));
        Assert.Equal(8, job.CompletionTokens);
        Assert.Contains(await _app.LogsAsync(id), l => l.Level == "warning" && l.Message!.EndsWith("cut off by max_tokens"));
    }

    /// <summary>
    /// Regression: the schema instruction went in as a second system message, which this
    /// server's (Mistral) template refuses with a 400, so generate_characters failed at once.
    /// </summary>
    [Fact]
    public async Task StructuredJobsReachATemplateThatAllowsOneSystemMessage()
    {
        var chat = new OpenAIClient(new ApiKeyCredential("none"), new OpenAIClientOptions { Endpoint = new Uri(llama.BaseUrl) }).GetChatClient(LlamaServer.Model);
        var refused = await Assert.ThrowsAsync<ClientResultException>(() => chat.CompleteChatAsync(
            [new SystemChatMessage("one"), new SystemChatMessage("two"), new UserChatMessage("hi")]));
        Assert.Equal(400, refused.Status); // what the old request shape got
        Assert.Contains("alternate", refused.Message);

        var id = await _app.SubmitAsync(new { type = "generate_characters", payload = new { theme = "fantasy", count = 2 } });
        var job = await _app.WaitForAsync(id, j => j.Status is JobStatus.Completed or JobStatus.Failed, "finished", TimeSpan.FromSeconds(120));

        // Random weights rarely produce the schema; what matters is that every call was accepted.
        Assert.DoesNotContain("refused the request", job.Error ?? "");
        var calls = (await _app.EventsAsync(id)).Where(e => e.Kind == "usage").ToList();
        Assert.NotEmpty(calls);
        Assert.All(calls, e => Assert.Contains("finish ", e.Message));
    }

    [Fact]
    public async Task CancellingMidStreamStopsTheServerAndRecordsWhatItSpent()
    {
        var id = await _app.SubmitAsync(new { type = "text_generation", payload = new { prompt = "Go on and on.", max_tokens = 3500, temperature = 0.0 } });
        await _app.WaitForAsync(id, j => j.CompletionTokens is null && j.Message is { } m && m.StartsWith("Generating… ") && Tokens(m) >= 20,
            "streaming", TimeSpan.FromSeconds(60));

        (await _app.Client.PostAsync($"/jobs/{id}/cancel", null)).EnsureSuccessStatusCode();
        var job = await _app.WaitForAsync(id, j => j.Status == JobStatus.Cancelled, "cancelled", TimeSpan.FromSeconds(30));

        Assert.InRange(job.CompletionTokens!.Value, 20, 3499); // what was streamed before the cancel, not max_tokens
        Assert.True(JobResponse.From(job).Usage!.Estimated); // the server sends no usage for a call cut short: counted
        Assert.Null(job.Result);
    }

    static int Tokens(string message) => int.Parse(message["Generating… ".Length..].Split(' ')[0]);
}
