using JobService.Data;
using JobService.Tests.Infrastructure;

namespace JobService.Tests.Llm;

/// <summary>A model that says nothing for longer than several leases keeps its job: the heartbeat, not the stream, holds it.</summary>
[Collection(SerialCollection.Name)]
public sealed class SilentModelTests
{
    [Fact]
    public async Task AModelSilentForSeveralLeaseLengthsStillCompletesInOneAttempt()
    {
        await using var server = await ChatCompletionsServer.StartAsync();
        server.Enqueue(new ChatReply { FirstDelay = TimeSpan.FromSeconds(10), Chunks = ["after", " a", " long", " think"] });
        await using var app = new WorkerApp(TestDatabase.Sqlite(), server.ProviderSettings(new()
        {
            ["Worker:LeaseSeconds"] = "3",
            ["Worker:HeartbeatSeconds"] = "1",
            ["Worker:RescueIntervalSeconds"] = "1",
        }), realClock: true);

        var id = await app.SubmitAsync(new { type = "text_generation", payload = new { prompt = "think hard" } });
        var job = await app.WaitForAsync(id, j => j.Status == JobStatus.Completed, "completed", TimeSpan.FromSeconds(40));

        Assert.Equal(1, job.Attempt);
        Assert.Contains("after a long think", job.Result);
        Assert.Single(server.Requests);
        Assert.DoesNotContain(await app.LogsAsync(id), l => l.Message.Contains("lease"));
    }
}
