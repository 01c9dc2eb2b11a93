using JobService.Data;
using JobService.Tests.Infrastructure;

namespace JobService.Tests.Llm;

/// <summary>A model that says nothing for longer than several leases keeps its job: the heartbeat, not the stream, holds it.</summary>
public sealed class SilentModelTests
{
    [Fact]
    public async Task AModelSilentForSeveralLeaseLengthsStillCompletesInOneAttempt()
    {
        await using var server = await ChatCompletionsServer.StartAsync();
        var thinking = new TaskCompletionSource();
        server.Enqueue(new ChatReply { Silence = thinking.Task, Chunks = ["after", " a", " long", " think"] });
        // The fake clock: the silence lasts as long as the test says, however slow the machine.
        await using var app = new WorkerApp(TestDatabase.Sqlite(), server.ProviderSettings());

        var id = await app.SubmitAsync(new { type = "text_generation", payload = new { prompt = "think hard" } });
        await server.FirstRequest.Task.WaitAsync(TimeSpan.FromSeconds(15)); // sent to the model
        await app.AdvanceRunningAsync(id, TimeSpan.FromSeconds(50)); // five 10 s leases without a byte from the model
        thinking.SetResult();
        var job = await app.WaitForStatusAsync(id, JobStatus.Completed);

        Assert.Equal(1, job.Attempt);
        Assert.Contains("after a long think", job.Result);
        Assert.Single(server.Requests);
        Assert.DoesNotContain(await app.LogsAsync(id), l => l.Message!.Contains("lease"));
    }
}
