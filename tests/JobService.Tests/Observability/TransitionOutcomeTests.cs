using System.Net;
using System.Net.Http.Json;
using JobService.Data;
using JobService.Handlers;
using JobService.Hosting;
using JobService.Tests.Infrastructure;
using JobService.Transitions;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;

namespace JobService.Tests.Observability;

/// <summary>
/// Each way an attempt ends, driven through the real service on a fake clock, counted once with
/// its outcome by the transition hook: success, retry, timeout, error, cancelled, lease_expired,
/// handed_back; and what ends no attempt (a cancel of a pending job, POST /jobs/{id}/retry) counts none.
/// </summary>
public sealed class TransitionOutcomeTests
{
    const string Attempts = "jobservice.job.attempts";

    static (WorkerApp App, MeasurementRecorder Recorder) Start(Dictionary<string, string?>? settings = null, Action<IServiceCollection>? configure = null)
    {
        var app = new WorkerApp(TestDatabase.Sqlite(), settings, configure: configure);
        _ = app.Client; // start the host, and so the workers
        return (app, new MeasurementRecorder(app.Get<JobServiceMetrics>()));
    }

    [Fact]
    public async Task AFailedThenRetriedJobCountsRetryOnceThenSuccess()
    {
        var (app, recorder) = Start();
        await using var _ = app;
        using var __ = recorder;
        var key = Scripts.Add(ctx => ctx.Attempt == 1 ? throw new InvalidOperationException("flaky") : Task.FromResult<object?>(new { ok = true }));

        var id = await app.SubmitAsync(Scripts.Job(key));
        await app.WaitForAsync(id, j => j.Status == JobStatus.Pending && j.Attempt == 1, "waiting for its retry");
        app.AdvanceAndWake(TimeSpan.FromSeconds(3)); // past the backoff (2 s ± 20 %)
        await app.WaitForStatusAsync(id, JobStatus.Completed);

        Assert.Equal(["retry", "success"], await OutcomesAsync(recorder, 2));
        Assert.Equal(1, recorder.Sum("jobservice.jobs.finished", ("type", "scripted"), ("status", "completed")));
        Assert.Equal(2, recorder.Count("jobservice.job.queue_wait", ("type", "scripted"))); // each claim
        Assert.Equal(1, recorder.Count("jobservice.job.run_duration", ("type", "scripted"), ("status", "pending")));
        Assert.Equal(1, recorder.Count("jobservice.job.run_duration", ("type", "scripted"), ("status", "completed")));
    }

    [Fact]
    public async Task ATimedOutAttemptCountsTimeoutNotRetry()
    {
        var (app, recorder) = Start(new() { ["Worker:LeaseSeconds"] = "300" }); // the 61 s jump must end in the timeout, not a rescue
        await using var _ = app;
        using var __ = recorder;
        var started = new TaskCompletionSource();
        var key = Scripts.Add(async ctx =>
        {
            started.TrySetResult(); // the timeout's timer is armed before the handler runs
            await Task.Delay(Timeout.Infinite, ctx.CancellationToken);
            return null;
        });

        var id = await app.SubmitAsync(Scripts.Job(key));
        await started.Task.WaitAsync(TimeSpan.FromSeconds(15));
        app.Time.Advance(TimeSpan.FromSeconds(61)); // the scripted type's timeout is 60 s
        await app.WaitForAsync(id, j => j.Status == JobStatus.Pending && j.Error == "Timed out after 60 s.", "retrying after its timeout");

        Assert.Equal(["timeout"], await OutcomesAsync(recorder, 1));
    }

    [Fact]
    public async Task ANonRetryableFailureCountsErrorAndAFailedJobAndARetryByTheApiCountsNoAttempt()
    {
        var (app, recorder) = Start();
        await using var _ = app;
        using var __ = recorder;
        var runs = 0;
        var key = Scripts.Add(_ => Interlocked.Increment(ref runs) == 1
            ? throw new NonRetryableJobException("bad input")
            : Task.FromResult<object?>(new { ok = true }));

        var id = await app.SubmitAsync(Scripts.Job(key));
        await app.WaitForStatusAsync(id, JobStatus.Failed);
        Assert.Equal(["error"], await OutcomesAsync(recorder, 1));
        Assert.Equal(1, recorder.Sum("jobservice.jobs.finished", ("type", "scripted"), ("status", "failed")));

        Assert.Equal(HttpStatusCode.OK, (await app.Client.PostAsync($"/jobs/{id}/retry", null)).StatusCode);
        await app.WaitForStatusAsync(id, JobStatus.Completed);

        Assert.Equal(["error", "success"], await OutcomesAsync(recorder, 2)); // the requeue itself ended no attempt
        Assert.Equal(1, recorder.Sum("jobservice.jobs.created", ("type", "scripted"))); // nor created a job
        Assert.Equal(2, recorder.Count("jobservice.job.end_to_end", ("type", "scripted")));
    }

    [Fact]
    public async Task ACancelledRunningJobCountsCancelledAndACancelledPendingJobNoAttempt()
    {
        var (app, recorder) = Start();
        await using var _ = app;
        using var __ = recorder;
        var key = Scripts.Add(async ctx => { await Task.Delay(Timeout.Infinite, ctx.CancellationToken); return null; });
        var running = await app.SubmitAsync(Scripts.Job(key));
        await app.WaitForRunningHereAsync(running);

        await app.Client.PostAsync($"/jobs/{running}/cancel", null);
        await app.WaitForStatusAsync(running, JobStatus.Cancelled);
        var later = await app.SubmitAsync(new { type = "scripted", payload = new { key }, run_at = app.Time.GetUtcNow().AddHours(1) });
        await app.Client.PostAsync($"/jobs/{later}/cancel", null);
        await app.WaitForStatusAsync(later, JobStatus.Cancelled);

        Assert.Equal(["cancelled"], await OutcomesAsync(recorder, 1));
        await recorder.UntilAsync(() => recorder.Sum("jobservice.jobs.finished", ("type", "scripted"), ("status", "cancelled")) == 2, "two cancelled jobs counted");
        Assert.Equal(["cancelled"], recorder.Outcomes("scripted"));
    }

    /// <summary>
    /// Regression: a job cancelled in its retry backoff was told "Cancelled before it started"
    /// though it had run. It says it was waiting to run again, and its cancel ends no attempt.
    /// </summary>
    [Fact]
    public async Task AJobCancelledBetweenAttemptsSaysSoAndCountsNoAttempt()
    {
        var (app, recorder) = Start();
        await using var _ = app;
        using var __ = recorder;
        var key = Scripts.Add(_ => throw new InvalidOperationException("flaky"));
        var id = await app.SubmitAsync(Scripts.Job(key));
        await app.WaitForAsync(id, j => j.Status == JobStatus.Pending && j.Attempt == 1, "waiting for its retry");

        (await app.Client.PostAsync($"/jobs/{id}/cancel", null)).EnsureSuccessStatusCode();

        var job = await app.WaitForStatusAsync(id, JobStatus.Cancelled);
        Assert.Equal(JobTransitions.CancelledWaitingToRunAgain, job.Message);
        Assert.Equal(JobTransitions.CancelledWaitingToRunAgain, (await app.EventsAsync(id))[^1].Message);
        await recorder.UntilAsync(() => recorder.Sum("jobservice.jobs.finished", ("type", "scripted"), ("status", "cancelled")) == 1, "the cancelled job counted");
        Assert.Equal(["retry"], recorder.Outcomes("scripted")); // the failed attempt only
    }

    /// <summary>As QueueContract does: a job held by a worker that stopped renewing (set in SQL), then the rescuer's pass.</summary>
    [Fact]
    public async Task ARescuedJobCountsLeaseExpiredWhetherItRunsAgainOrFails()
    {
        var (app, recorder) = Start(new() { ["Service:Role"] = "api" }); // no worker: the test plays the lost one
        await using var _ = app;
        using var __ = recorder;
        var again = await app.SubmitAsync(Scripts.Job("never-runs", maxAttempts: 3));
        var spent = await app.SubmitAsync(Scripts.Job("never-runs", maxAttempts: 1));
        var now = app.Time.GetUtcNow().UtcDateTime;
        await using (var db = await app.Get<IDbContextFactory<JobsDbContext>>().CreateDbContextAsync())
            await db.Jobs.Where(j => j.Id == again || j.Id == spent).ExecuteUpdateAsync(u => u
                .SetProperty(j => j.Status, JobStatus.Running).SetProperty(j => j.Attempt, 1).SetProperty(j => j.LockedBy, "a-lost-worker")
                .SetProperty(j => j.StartedAt, now.AddSeconds(-40)).SetProperty(j => j.LockedUntil, now.AddSeconds(-1)));

        Assert.Equal(2, await app.Get<JobTransitions>().RescueExpiredAsync(maxRescues: 3, default));

        Assert.Equal(JobStatus.Pending, (await app.JobAsync(again)).Status);
        Assert.Equal(JobStatus.Failed, (await app.JobAsync(spent)).Status);
        Assert.Equal(["lease_expired", "lease_expired"], recorder.Outcomes("scripted"));
        Assert.Equal(1, recorder.Sum("jobservice.jobs.finished", ("type", "scripted"), ("status", "failed")));
        Assert.Equal(40, recorder.Sum("jobservice.job.run_duration", ("type", "scripted"), ("status", "pending")), 3);
    }

    [Fact]
    public async Task AJobHandedBackAtShutdownCountsHandedBack()
    {
        var (app, recorder) = Start();
        await using var _ = app;
        using var __ = recorder;
        var started = new TaskCompletionSource();
        var key = Scripts.Add(async ctx => { started.TrySetResult(); await Task.Delay(Timeout.Infinite, ctx.CancellationToken); return null; });
        await app.SubmitAsync(Scripts.Job(key));
        await started.Task.WaitAsync(TimeSpan.FromSeconds(15));

        await app.StopAsync(); // grace 0 s in these tests

        Assert.Equal(["handed_back"], recorder.Outcomes("scripted"));
    }

    /// <summary>A job handed back to wait for its service counts handed_back; made due again when the service answers, nothing (regression: a retry); then success.</summary>
    [Fact]
    public async Task AJobHandedBackToWaitForItsServiceCountsHandedBackThenSuccess()
    {
        var (app, recorder) = Start();
        await using var _ = app;
        using var __ = recorder;
        var runs = 0;
        var key = Scripts.Add(_ => Interlocked.Increment(ref runs) == 1
            ? throw new ServiceUnavailableJobException("The index is down", TimeSpan.FromSeconds(5))
            : Task.FromResult<object?>(null));
        var id = await app.SubmitAsync(Scripts.Job(key));
        await app.WaitForAsync(id, j => j.Message?.StartsWith(JobTransitions.WaitingForAService) == true, "waiting for its service");

        Assert.Equal(1, await app.Get<JobTransitions>().ReleaseWaitingAsync("The index", CancellationToken.None)); // due again: ends no attempt
        await app.WaitForStatusAsync(id, JobStatus.Completed);

        Assert.Equal(["handed_back", "success"], await OutcomesAsync(recorder, 2));
    }

    /// <summary>Counting waits for the commit: a transition that rolls back (here a later hook throws) is never counted.</summary>
    [Fact]
    public async Task ARolledBackTransitionIsNotCounted()
    {
        var (app, recorder) = Start(configure: s => s.AddSingleton<IJobTransitionHook, RefuseGreets>());
        await using var _ = app;
        using var __ = recorder;

        var refused = await app.Client.PostAsJsonAsync("/jobs", new { type = "greet", payload = new { name = "Ada" } });
        await app.WaitForStatusAsync(await app.SubmitAsync(new { type = "echo", payload = new { text = "a" } }), JobStatus.Completed);

        Assert.Equal(HttpStatusCode.InternalServerError, refused.StatusCode);
        Assert.Equal(0, recorder.Sum("jobservice.jobs.created", ("type", "greet")));
        Assert.Equal(1, recorder.Sum("jobservice.jobs.created", ("type", "echo")));
    }

    sealed class RefuseGreets : IJobTransitionHook
    {
        public Task OnAppliedAsync(TransitionTx tx, IReadOnlyList<AppliedChange> changes, CancellationToken ct) =>
            changes.Any(c => c.Row.Type == "greet") ? throw new InvalidOperationException("refused by the test") : Task.CompletedTask;
    }

    /// <summary>The job's row is committed a moment before the hook's after-commit counting runs: wait for it.</summary>
    static async Task<IReadOnlyList<string>> OutcomesAsync(MeasurementRecorder recorder, int count)
    {
        await recorder.UntilAsync(() => recorder.Outcomes("scripted").Count >= count, $"{count} attempt outcome(s) counted");
        return recorder.Outcomes("scripted");
    }
}
