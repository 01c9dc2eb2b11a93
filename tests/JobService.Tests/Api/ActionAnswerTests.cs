using System.Text.Json;
using JobService.Data;
using JobService.Tests.Infrastructure;
using JobService.Transitions;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;

namespace JobService.Tests.Api;

/// <summary>
/// Regression: cancel and retry answered with the job read again after their commit, so a worker
/// that claimed or finished it in between made the 200 say "running" or "completed" (3 of 60
/// cancels on PostgreSQL in a walk-through): the client could not tell whether its action took.
/// </summary>
public sealed class ActionAnswerTests
{
    /// <summary>Holds the request right after the retry of <see cref="Job"/> committed, until the test has moved the job on.</summary>
    sealed class HoldAfterRetry : IJobTransitionHook
    {
        public Guid? Job;
        public readonly TaskCompletionSource Committed = new(TaskCreationOptions.RunContinuationsAsynchronously);
        public readonly ManualResetEventSlim Release = new();

        public Task OnAppliedAsync(TransitionTx tx, IReadOnlyList<AppliedChange> changes, CancellationToken ct)
        {
            if (changes.Any(c => c.Row.Id == Job && c.Row.Status == JobStatus.Pending))
                tx.AfterCommit(() => { Committed.TrySetResult(); Release.Wait(TimeSpan.FromSeconds(30)); });
            return Task.CompletedTask;
        }
    }

    [Fact]
    public async Task ARetryIsAnsweredWithTheJobAsTheRetryLeftItNotAsALaterRunMadeIt()
    {
        var hold = new HoldAfterRetry();
        await using var app = new WorkerApp(TestDatabase.Sqlite(), new() { ["Service:Role"] = "api" },
            configure: services => services.AddSingleton<IJobTransitionHook>(hold));
        var id = await app.SubmitAsync(new { type = "echo", payload = new { text = "again" } });
        await app.Client.PostAsync($"/jobs/{id}/cancel", null);
        hold.Job = id;

        var answer = app.Client.PostAsync($"/jobs/{id}/retry", null);
        await hold.Committed.Task.WaitAsync(TimeSpan.FromSeconds(30));
        // A worker's whole run between the retry's commit and its answer.
        await app.WithDbAsync(db => db.Jobs.Where(j => j.Id == id).ExecuteUpdateAsync(u => u
            .SetProperty(j => j.Status, JobStatus.Completed).SetProperty(j => j.Attempt, 1).SetProperty(j => j.Progress, 100)
            .SetProperty(j => j.Result, "{\"text\": \"again\"}").SetProperty(j => j.EventSeq, j => j.EventSeq + 3)));
        hold.Release.Set();

        var job = await (await answer).ReadJsonAsync();
        Assert.Equal("pending", job.Str("status"));
        Assert.Equal(0, job.GetProperty("attempt").GetInt32());
        Assert.Equal(JsonValueKind.Null, job.GetProperty("result").ValueKind);
        Assert.Equal("completed", (await (await app.Client.GetAsync($"/jobs/{id}")).ReadJsonAsync()).Str("status")); // the read after it sees the run
    }
}
