using System.Text.Json;
using JobService.Data;
using JobService.Llm;
using JobService.Tests.Infrastructure;

namespace JobService.Tests.Llm;

/// <summary>With no provider configured, the offline provider answers every LLM type, deterministically.</summary>
public sealed class OfflineProviderTests
{
    [Fact]
    public async Task TheOfflineProviderCompletesEveryBuiltInAndExampleType()
    {
        await using var app = new WorkerApp(TestDatabase.Sqlite(), new() { ["Llm:Offline:TokensPerSecond"] = "4000", ["Worker:ProgressIntervalMs"] = "50" }, realClock: true);
        var jobs = new Dictionary<string, Guid>
        {
            ["text_generation"] = await app.SubmitAsync(new { type = "text_generation", payload = new { prompt = "A haiku about queues", max_tokens = 30 } }),
            ["structured_generation"] = await app.SubmitAsync(new
            {
                type = "structured_generation",
                payload = new { instructions = "A city", schema = new { type = "object", properties = new { city = new { type = "string" }, population = new { type = "integer", minimum = 1 } }, required = new[] { "city", "population" } } },
            }),
            ["generate_characters"] = await app.SubmitAsync(new { type = "generate_characters", payload = new { theme = "fantasy", count = 3 } }),
            ["create_world"] = await app.SubmitAsync(new { type = "create_world", payload = new { theme = "steampunk" } }),
        };

        foreach (var (type, id) in jobs)
        {
            var job = await app.WaitForStatusAsync(id, JobStatus.Completed);
            Assert.Equal(OfflineChatBackend.Model, JobService.Api.JobResponse.From(job).Usage!.Model); // the result is the answer; who answered is in usage
            Assert.Equal(100, job.Progress);
            Assert.True(job.TotalTokens > 0, $"{type} recorded no usage");
        }
        var characters = JsonDocument.Parse((await app.JobAsync(jobs["generate_characters"])).Result!).RootElement.GetProperty("characters");
        Assert.Equal(3, characters.GetArrayLength());
        Assert.All(characters.EnumerateArray(), c =>
        {
            Assert.False(string.IsNullOrWhiteSpace(c.GetProperty("name").GetString()));
            Assert.False(string.IsNullOrWhiteSpace(c.GetProperty("description").GetString()));
        });
        var world = JsonDocument.Parse((await app.JobAsync(jobs["create_world"])).Result!).RootElement;
        Assert.Equal(["setting", "factions", "characters", "story"], world.EnumerateObject().Select(p => p.Name));
    }

    [Fact]
    public async Task AnEnumThatAllowsNullIsAnsweredWithNull()
    {
        await using var app = new WorkerApp(TestDatabase.Sqlite(), new() { ["Llm:Offline:TokensPerSecond"] = "4000" }, realClock: true);
        var id = await app.SubmitAsync(new
        {
            type = "structured_generation",
            payload = new { instructions = "A city", schema = new { type = "object", properties = new { tone = new { @enum = new object?[] { null } } }, required = new[] { "tone" } } },
        });

        var job = await app.WaitForStatusAsync(id, JobStatus.Completed);
        Assert.Equal("""{"tone":null}""", job.Result);
    }

    [Fact]
    public async Task TheOfflineProviderAnswersTheSameRequestTheSameWay()
    {
        await using var app = new WorkerApp(TestDatabase.Sqlite(), new() { ["Llm:Offline:TokensPerSecond"] = "4000" }, realClock: true);
        var body = new { type = "text_generation", payload = new { prompt = "Same question", max_tokens = 20 } };

        var first = await app.WaitForStatusAsync(await app.SubmitAsync(body), JobStatus.Completed);
        var second = await app.WaitForStatusAsync(await app.SubmitAsync(body), JobStatus.Completed);

        Assert.Equal(first.Result, second.Result);
        Assert.Contains("Offline answer", first.Result);
        Assert.Equal(20, first.CompletionTokens); // exactly max_tokens' worth, no more
    }

    [Fact]
    public async Task TheOfflineProviderNeverWritesMoreThanMaxTokens()
    {
        await using var app = new WorkerApp(TestDatabase.Sqlite(), new() { ["Llm:Offline:TokensPerSecond"] = "4000" }, realClock: true);

        foreach (var max in new[] { 1, 7, 60 })
        {
            var job = await app.WaitForStatusAsync(await app.SubmitAsync(new { type = "text_generation", payload = new { prompt = "A long and winding prompt about queues", max_tokens = max } }), JobStatus.Completed);
            Assert.InRange(job.CompletionTokens!.Value, 1, max);
        }
    }
}
