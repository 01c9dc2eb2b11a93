using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using JobService.Data;
using JobService.Handlers;
using JobService.Tests.Infrastructure;

namespace JobService.Tests.Docs;

/// <summary>The example in docs/handlers.md works as the page says.</summary>
public sealed class HandlerExampleTests
{
    [Fact]
    public void TheCodeOnThePageIsTheCodeTestedHere()
    {
        var root = Path.GetFullPath(Path.Combine(AppContext.BaseDirectory, "../../../../.."));
        var page = File.ReadAllText(Path.Combine(root, "docs/handlers.md"));
        var example = page.Split("```csharp\n")[1].Split("```")[0];
        var tested = File.ReadAllText(Path.Combine(root, "tests/JobService.Tests/Docs/SummarizeHandler.cs"));

        // Line by line, indentation, this file's comments and its namespace aside (the page's usings are this file's).
        static string Lines(string code) => string.Join("\n", code.Split('\n').Select(l => l.Trim())
            .Where(l => l.Length > 0 && !l.StartsWith("//") && !l.StartsWith("namespace ")));
        Assert.Contains(Lines(example), Lines(tested));
    }

    [Fact]
    public async Task TheDocumentedSummarizeHandlerRunsEndToEnd()
    {
        await using var server = await ChatCompletionsServer.StartAsync();
        server.Enqueue(new ChatReply { Chunks = ["Queues ", "hold ", "work."] });
        await using var app = new WorkerApp(TestDatabase.Sqlite(), server.ProviderSettings(), realClock: true,
            configure: s => s.AddJobHandler<SummarizeHandler>());

        var types = await app.Client.GetFromJsonAsync<JsonElement>("/job-types");
        var summarize = types.EnumerateArray().Single(t => t.GetProperty("type").GetString() == "summarize");
        Assert.Equal(4, summarize.GetProperty("concurrency").GetInt32());
        Assert.Equal(["text"], summarize.GetProperty("payload_schema").GetProperty("required").EnumerateArray().Select(r => r.GetString()));

        var noText = await app.Client.PostAsJsonAsync("/jobs", new { type = "summarize", payload = new { sentences = 2 } });
        var errors = (await noText.ShouldBeProblemAsync(HttpStatusCode.BadRequest)).GetProperty("errors");
        Assert.True(errors.TryGetProperty("payload.text", out _), errors.ToString()); // required
        var tooMany = await app.Client.PostAsJsonAsync("/jobs", new { type = "summarize", payload = new { text = "x", sentences = 50 } });
        errors = (await tooMany.ShouldBeProblemAsync(HttpStatusCode.BadRequest)).GetProperty("errors");
        Assert.True(errors.TryGetProperty("payload.sentences", out _), errors.ToString()); // 1–10

        var id = await app.SubmitAsync(new { type = "summarize", payload = new { text = new string('x', 200), sentences = 1 } });
        var job = await app.WaitForStatusAsync(id, JobStatus.Completed);
        Assert.Equal("{\"summary\":\"Queues hold work.\",\"model\":\"test-model\"}", job.Result);
        Assert.Equal("Summarising 200 characters", (await app.LogsAsync(id)).First(l => l.Kind == "log").Message);

        var shortText = await app.SubmitAsync(new { type = "summarize", payload = new { text = "too short" } });
        var failed = await app.WaitForStatusAsync(shortText, JobStatus.Failed);
        Assert.Equal(1, failed.Attempt);
        Assert.Equal("The text is too short to summarise.", failed.Error);
    }
}
