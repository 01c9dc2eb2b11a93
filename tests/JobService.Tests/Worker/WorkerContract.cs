using System.Text.Json.Nodes;
using System.Text.Json;
using System.Net.Http.Json;
using JobService.Data;
using JobService.Handlers;
using JobService.Tests.Infrastructure;
using JobService.Transitions;
using JobService.Worker;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;

namespace JobService.Tests.Worker;

/// <summary>
/// The worker guarantees of SPEC.md, end to end through the API and the hosted workers, on a
/// fake clock: retries, timeouts, cancellation, leases, shutdown and progress.
/// </summary>
public abstract class WorkerContract
{
    protected abstract Task<TestDatabase> CreateDatabaseAsync();

    protected async Task<WorkerApp> StartAsync(Dictionary<string, string?>? settings = null)
    {
        var app = new WorkerApp(await CreateDatabaseAsync(), settings);
        _ = app.Client; // start the host, and so the workers
        return app;
    }

    /// <summary>
    /// A number PostgreSQL's numeric cannot hold, or would write back as 131,001 digits (a model can
    /// write one): the result keeps it as its text, in a string, and completes; it failed every attempt on PostgreSQL.
    /// </summary>
    [Fact]
    public async Task AResultWithANumberTooLongWrittenOutCompletesWithItAsText()
    {
        await using var app = await StartAsync();
        var key = Scripts.Add(_ => Task.FromResult<object?>(JsonNode.Parse("""{"huge": 1e200000, "tiny": -1.5e-20000, "fine": 6.02e23}""")));

        var job = await app.WaitForStatusAsync(await app.SubmitAsync(Scripts.Job(key)), JobStatus.Completed);

        JsonAssert.Equal("""{"huge": "1e200000", "tiny": "-1.5e-20000", "fine": 6.02e23}""", job.Result);
    }

    /// <summary>
    /// Regression: usage a handler counts itself (RecordUsageAsync(prompt, completion, cost), as
    /// docs/handlers.md shows) was told as "Model call: ? via ?, …, finish none: the call did not finish", a warning.
    /// </summary>
    [Fact]
    public async Task UsageAHandlerCountsItselfIsToldAsRecordedNotAsACallThatDidNotFinish()
    {
        await using var app = await StartAsync();
        var key = Scripts.Add(async ctx => { await ctx.RecordUsageAsync(10, 20, 0.0012); return null; });

        var id = await app.SubmitAsync(Scripts.Job(key));
        await app.WaitForStatusAsync(id, JobStatus.Completed);

        var usage = Assert.Single(await app.LogsAsync(id), e => e.Kind == "usage");
        Assert.Equal(("info", "Usage recorded: 10 prompt + 20 completion tokens, $0.0012"), (usage.Level, usage.Message));
    }

    /// <summary>PostgreSQL's jsonb refuses "\u0000": such a result is stored with U+FFFD, never failing the completion batch.</summary>
    [Fact]
    public async Task AResultWithANulCharacterCompletesWithItReplaced()
    {
        await using var app = await StartAsync();
        var key = Scripts.Add(_ => Task.FromResult<object?>(new { text = "a\0b" }));

        var job = await app.WaitForStatusAsync(await app.SubmitAsync(Scripts.Job(key)), JobStatus.Completed);

        JsonAssert.Equal("{\"text\":\"a\uFFFDb\"}", job.Result);
    }

    [Fact]
    public async Task AJobRunsToCompletionWithProgress100AndItsResult()
    {
        await using var app = await StartAsync();
        var key = Scripts.Add(async ctx =>
        {
            await ctx.ReportProgressAsync(30, "Thinking…");
            return new { answer = 42, attempt = ctx.Attempt };
        });

        var id = await app.SubmitAsync(Scripts.Job(key));
        var job = await app.WaitForStatusAsync(id, JobStatus.Completed);

        Assert.Equal(100, job.Progress);
        JsonAssert.Equal("{\"answer\":42,\"attempt\":1}", job.Result);
        Assert.Equal(1, job.Attempt);
        Assert.Null(job.LockedBy);
        Assert.NotNull(job.CompletedAt);
    }

    [Fact]
    public async Task AFailingJobIsRetriedWithBackoffUntilItsAttemptsAreUsedUp()
    {
        await using var app = await StartAsync();
        var key = Scripts.Add(ctx => throw new InvalidOperationException($"model unavailable (attempt {ctx.Attempt})"));

        var id = await app.SubmitAsync(Scripts.Job(key, maxAttempts: 3));

        var first = await app.WaitForAsync(id, j => j.Status == JobStatus.Pending && j.Attempt == 1, "retrying after attempt 1");
        Assert.InRange((first.RunAt - first.UpdatedAt).TotalSeconds, 1.6, 2.4); // 2 s ± 20% after the failure
        Assert.Equal("model unavailable (attempt 1)", first.Error);
        Assert.Equal(1, Scripts.RunsOf(key));

        // The clock moves only between attempts, so each backoff is read exactly from its row.
        app.AdvanceAndWake(TimeSpan.FromSeconds(2.5));
        var second = await app.WaitForAsync(id, j => j.Status == JobStatus.Pending && j.Attempt == 2, "retrying after attempt 2");
        Assert.InRange((second.RunAt - second.UpdatedAt).TotalSeconds, 3.2, 4.8); // 4 s ± 20%

        app.AdvanceAndWake(TimeSpan.FromSeconds(5));
        var failed = await app.WaitForStatusAsync(id, JobStatus.Failed);
        Assert.Equal(3, failed.Attempt);
        Assert.Equal("model unavailable (attempt 3)", failed.Error);
        Assert.Equal(3, Scripts.RunsOf(key));
        var logs = (await app.LogsAsync(id)).Where(l => l.Level != "info").ToList();
        Assert.Equal(["warning", "warning", "error"], logs.Select(l => l.Level));
        Assert.Equal([1, 2, 3], logs.Select(l => JobService.Events.EventJson.LogLine(l).Attempt));
    }

    [Fact]
    public async Task ANonRetryableErrorFailsAtOnce()
    {
        await using var app = await StartAsync();
        var key = Scripts.Add(_ => throw new NonRetryableJobException("The API key was refused."));

        var id = await app.SubmitAsync(Scripts.Job(key, maxAttempts: 5));
        var job = await app.WaitForStatusAsync(id, JobStatus.Failed);

        Assert.Equal(1, job.Attempt);
        Assert.Equal("The API key was refused.", job.Error);
        Assert.Equal(1, Scripts.RunsOf(key));
    }

    [Fact]
    public async Task AnAttemptThatOutlivesItsTimeoutFailsAsTimedOutAndIsRetried()
    {
        // A lease longer than the timeout: the 61 s jump must end in the timeout, never in a rescue.
        await using var app = await StartAsync(new() { ["Worker:LeaseSeconds"] = "300" });
        var started = new TaskCompletionSource();
        var key = Scripts.Add(async ctx =>
        {
            started.SetResult(); // the timeout's timer is armed before the handler runs
            await Task.Delay(Timeout.Infinite, ctx.CancellationToken);
            return null;
        });

        var id = await app.SubmitAsync(Scripts.Job(key));
        await started.Task.WaitAsync(TimeSpan.FromSeconds(15));
        app.Time.Advance(TimeSpan.FromSeconds(61)); // the scripted type's timeout is 60 s

        var job = await app.WaitForAsync(id, j => j.Status == JobStatus.Pending && j.Attempt == 1, "retrying after a timeout");
        Assert.Equal("Timed out after 60 s.", job.Error);
        Assert.Contains(await app.LogsAsync(id), l => l.Message!.StartsWith("Attempt 1 of 3 failed: Timed out after 60 s. Retrying in ")); // one period, not two
    }

    [Fact]
    public async Task AHandlerThatIgnoresItsTokenStillLosesTheJobAtTheTimeout()
    {
        await using var app = await StartAsync(new() { ["Worker:LeaseSeconds"] = "300" });
        var never = new TaskCompletionSource<object?>();
        var started = new TaskCompletionSource();
        var key = Scripts.Add(_ =>
        {
            started.SetResult(); // the timeout's timer is armed before the handler runs
            return never.Task;
        });

        var id = await app.SubmitAsync(Scripts.Job(key, maxAttempts: 1));
        await started.Task.WaitAsync(TimeSpan.FromSeconds(15));
        app.Time.Advance(TimeSpan.FromSeconds(61));

        var job = await app.WaitForStatusAsync(id, JobStatus.Failed);
        Assert.Equal("Timed out after 60 s.", job.Error);
    }

    [Fact]
    public async Task CancellingARunningJobFiresItsTokenAndEndsItCancelledWithoutWaitingForAHeartbeat()
    {
        await using var app = await StartAsync();
        var started = new TaskCompletionSource();
        var key = Scripts.Add(async ctx =>
        {
            await ctx.ReportProgressAsync(20, "Generating…");
            started.SetResult();
            await Task.Delay(Timeout.Infinite, ctx.CancellationToken);
            return null;
        });
        var id = await app.SubmitAsync(Scripts.Job(key));
        await started.Task.WaitAsync(TimeSpan.FromSeconds(15));

        var response = await app.Client.PostAsync($"/jobs/{id}/cancel", null);
        response.EnsureSuccessStatusCode();

        // The fake clock does not move: no heartbeat runs, so the signal itself carried the cancel.
        var job = await app.WaitForStatusAsync(id, JobStatus.Cancelled);
        Assert.Null(job.Error);
        Assert.Equal(20, job.Progress);
        Assert.Equal(1, Scripts.RunsOf(key));
    }

    /// <summary>
    /// Regression: a cancel's notice that came after its job had been retried by hand stopped the
    /// new run (on PostgreSQL a node hears its own notices again on their way back from the
    /// server, and a retry claimed at once beat the echo; one test failed so in CI). A notice
    /// stops only a run claimed before the cancel was asked for.
    /// </summary>
    [Fact]
    public async Task ACancelsLateNoticeDoesNotStopTheRunOfARetryThatCameAfterIt()
    {
        await using var app = await StartAsync();
        var (runs, secondStarted, release) = (0, new TaskCompletionSource(), new TaskCompletionSource());
        var id = await app.SubmitAsync(Scripts.Job(Scripts.Add(async ctx =>
        {
            if (Interlocked.Increment(ref runs) == 1) await new TaskCompletionSource().Task.WaitAsync(ctx.CancellationToken); // until cancelled
            secondStarted.SetResult();
            await release.Task.WaitAsync(ctx.CancellationToken);
            return null;
        })));
        await app.WaitForRunningHereAsync(id);
        Assert.Equal(System.Net.HttpStatusCode.OK, (await app.Client.PostAsync($"/jobs/{id}/cancel", null)).StatusCode);
        await app.WaitForStatusAsync(id, JobStatus.Cancelled);
        var cancel = (await app.EventsAsync(id)).Single(e => e.Message?.StartsWith("Cancel requested", StringComparison.Ordinal) == true);
        Assert.Equal(System.Net.HttpStatusCode.OK, (await app.Client.PostAsync($"/jobs/{id}/retry", null)).StatusCode);
        await secondStarted.Task.WaitAsync(TimeSpan.FromSeconds(15));

        app.Get<IJobDriver>().Notifier.Publish(new Notice.CancelRequested(id, cancel.Seq)); // the first cancel's notice, late

        Assert.False(app.Get<RunningJobs>().Find(id)!.Token.IsCancellationRequested, "the late notice stopped the retry's run");
        release.SetResult();
        await app.WaitForStatusAsync(id, JobStatus.Completed);
    }

    /// <summary>
    /// A handler whose service is down hands its job back without spending the attempt, due when it
    /// said, and told why (the LLM client does so while a provider's breaker is open).
    /// </summary>
    [Fact]
    public async Task AHandlerWhoseServiceIsDownHandsItsJobBackUnspentDueWhenItSaid()
    {
        await using var app = await StartAsync();
        var runs = 0;
        var key = Scripts.Add(_ => Interlocked.Increment(ref runs) == 1
            ? throw new ServiceUnavailableJobException("The search index gave no answer", TimeSpan.FromSeconds(30))
            : Task.FromResult<object?>(new { found = 3 }));
        var id = await app.SubmitAsync(Scripts.Job(key, maxAttempts: 1));

        var waiting = await app.WaitForAsync(id, j => j.Status == JobStatus.Pending && j.Message?.StartsWith(JobTransitions.WaitingForAService) == true, "handed back");
        Assert.Equal((0, "Waiting for a service it needs: The search index gave no answer", null), (waiting.Attempt, waiting.Message, waiting.Error));
        Assert.Equal(TimeSpan.FromSeconds(30), waiting.RunAt - waiting.UpdatedAt);
        var told = (await app.EventsAsync(id)).Last();
        Assert.Equal(("warning", "pending"), (told.Level, JsonDocument.Parse(told.Data!).RootElement.GetProperty("status").GetString()));
        Assert.Contains("The search index gave no answer. It runs again in 30 s; the attempt is not counted", told.Message);

        app.AdvanceAndWake(TimeSpan.FromSeconds(30));
        var done = await app.WaitForStatusAsync(id, JobStatus.Completed);
        Assert.Equal(1, done.Attempt); // its one attempt, not spent by the outage
        Assert.Equal(2, Scripts.RunsOf(key));
    }

    /// <summary>Jobs waiting for a service are due at once when it answers again, not at the end of their wait; others are not touched.</summary>
    [Fact]
    public async Task JobsWaitingForAServiceAreDueAtOnceWhenItAnswersAgain()
    {
        await using var app = await StartAsync();
        var runs = new System.Collections.Concurrent.ConcurrentDictionary<string, int>();
        string Script(string service) => Scripts.Add(_ => runs.AddOrUpdate(service, 1, (_, n) => n + 1) == 1
            ? throw new ServiceUnavailableJobException($"{service} gave no answer", TimeSpan.FromHours(1))
            : Task.FromResult<object?>(null));
        var (index, mail) = (await app.SubmitAsync(Scripts.Job(Script("The 🚀 index"))), await app.SubmitAsync(Scripts.Job(Script("The mail server"))));
        foreach (var id in new[] { index, mail })
            await app.WaitForAsync(id, j => j.Message?.StartsWith(JobTransitions.WaitingForAService) == true, "waiting for its service");

        Assert.Equal(1, await app.Get<JobTransitions>().ReleaseWaitingAsync("The 🚀 index", CancellationToken.None)); // a name beyond UTF-16's plane (regression: never matched)

        await app.WaitForStatusAsync(index, JobStatus.Completed); // the clock has not moved: the release made it due
        Assert.Contains(await app.EventsAsync(index), e => e.Message == "The service it waited for answers again: due now");
        var other = await app.JobAsync(mail);
        Assert.Equal((JobStatus.Pending, "Waiting for a service it needs: The mail server gave no answer"), (other.Status, other.Message));
    }

    /// <summary>What a handler keeps reaches its later attempts, with its line in the log; a retry by hand starts without it.</summary>
    [Fact]
    public async Task WhatAnAttemptKeepsReachesTheNextAndARetryByHandStartsWithout()
    {
        await using var app = await StartAsync();
        var seen = new System.Collections.Concurrent.ConcurrentQueue<string>();
        var key = Scripts.Add(async ctx =>
        {
            seen.Enqueue((await ctx.KeptAsync())?.ToJsonString() ?? "nothing");
            if (ctx.Attempt == 1) await ctx.KeepAsync(new JsonObject { ["done"] = "step 1 of attempt 1" }, "Step 1 done; kept for a retry");
            throw new InvalidOperationException("step 2 broke");
        });
        var id = await app.SubmitAsync(Scripts.Job(key, maxAttempts: 2));
        await app.WaitForAsync(id, j => j.Status == JobStatus.Pending && j.Attempt == 1, "retrying after attempt 1");
        Assert.Contains(await app.LogsAsync(id), l => l.Message == "Step 1 done; kept for a retry" && l.Level == "info");

        app.AdvanceAndWake(TimeSpan.FromSeconds(2.5));
        await app.WaitForStatusAsync(id, JobStatus.Failed);
        Assert.Equal(System.Net.HttpStatusCode.OK, (await app.Client.PostAsync($"/jobs/{id}/retry", null)).StatusCode);
        await app.WaitForAsync(id, j => j.Status == JobStatus.Pending && j.Attempt == 1, "retrying after the retry's attempt 1");

        Assert.Equal(["nothing", """{"done":"step 1 of attempt 1"}""", "nothing"], seen);
    }

    [Fact]
    public async Task ACancelFlagSetElsewhereReachesTheHandlerWithinOneHeartbeat()
    {
        await using var app = await StartAsync();
        var key = Scripts.Add(async ctx =>
        {
            await Task.Delay(Timeout.Infinite, ctx.CancellationToken);
            return null;
        });
        var id = await app.SubmitAsync(Scripts.Job(key));
        await app.WaitForRunningHereAsync(id); // the one heartbeat below must see it

        // As another API instance would: the flag only, no signal to this process.
        await using (var db = await app.Get<IDbContextFactory<JobsDbContext>>().CreateDbContextAsync())
            await db.Jobs.Where(j => j.Id == id).ExecuteUpdateAsync(u => u.SetProperty(j => j.CancelRequested, true));
        // Nothing has told the handler yet (no notice was sent): what happens next, the heartbeat, is what tells it.
        Assert.False(app.Get<RunningJobs>().Find(id)!.Token.IsCancellationRequested);
        Assert.Equal(JobStatus.Running, (await app.JobAsync(id)).Status);

        app.Time.Advance(TimeSpan.FromSeconds(2)); // one heartbeat
        await app.WaitForStatusAsync(id, JobStatus.Cancelled);
    }

    [Fact]
    public async Task TheHeartbeatKeepsASilentLongJobAlivePastSeveralLeaseLengths()
    {
        await using var app = await StartAsync();
        var release = new TaskCompletionSource();
        var key = Scripts.Add(async ctx =>
        {
            await release.Task.WaitAsync(ctx.CancellationToken); // a model thinking, with no progress at all
            return new { answer = "late but fine" };
        });
        var id = await app.SubmitAsync(Scripts.Job(key));
        await app.WaitForStatusAsync(id, JobStatus.Running);

        await app.AdvanceRunningAsync(id, TimeSpan.FromSeconds(50)); // five 10 s leases; the rescuer runs every second of it
        var alive = await app.JobAsync(id);
        Assert.Equal(JobStatus.Running, alive.Status);
        Assert.True(alive.LockedUntil > app.Time.GetUtcNow().UtcDateTime, "the lease should still be in the future");
        release.SetResult();

        var job = await app.WaitForStatusAsync(id, JobStatus.Completed);
        Assert.Equal(1, job.Attempt);
        Assert.Equal(1, Scripts.RunsOf(key));
        Assert.Equal(["created", "status", "completed"], (await app.EventsAsync(id)).Select(e => e.Kind)); // never rescued
    }

    [Fact]
    public async Task AWorkerThatLosesItsLeaseStopsTheHandlerAndWritesNothing()
    {
        await using var app = await StartAsync();
        var stopped = new TaskCompletionSource();
        var key = Scripts.Add(async ctx =>
        {
            try { await Task.Delay(Timeout.Infinite, ctx.CancellationToken); }
            catch (OperationCanceledException) { stopped.SetResult(); throw; }
            return null;
        });
        var id = await app.SubmitAsync(Scripts.Job(key));
        await app.WaitForRunningHereAsync(id); // the one heartbeat below must see it

        // Another node's rescuer took the job and gave it to another worker.
        await using (var db = await app.Get<IDbContextFactory<JobsDbContext>>().CreateDbContextAsync())
            await db.Jobs.Where(j => j.Id == id).ExecuteUpdateAsync(u => u.SetProperty(j => j.LockedBy, "another-worker").SetProperty(j => j.Attempt, 2));
        app.Time.Advance(TimeSpan.FromSeconds(2));

        await stopped.Task.WaitAsync(TimeSpan.FromSeconds(15));
        await app.WaitForGoneHereAsync(id); // its outcome write was made, or refused
        var job = await app.JobAsync(id);
        Assert.Equal(JobStatus.Running, job.Status);
        Assert.Equal("another-worker", job.LockedBy);
        Assert.Equal(["created", "status"], (await app.EventsAsync(id)).Select(e => e.Kind)); // the stale worker told nothing
    }

    [Fact]
    public async Task ShutdownHandsRunningJobsBackWithoutSpendingAnAttempt()
    {
        var app = await StartAsync();
        await using var _ = app;
        var id = await app.StartJobThatRunsUntilStoppedAsync();
        Assert.Equal(1, (await app.JobAsync(id)).Attempt);
        var database = app.Database;

        await app.StopAsync(); // grace 0 s in these tests

        await using var db = database.CreateContext();
        var job = await db.Jobs.AsNoTracking().SingleAsync(j => j.Id == id);
        Assert.Equal(JobStatus.Pending, job.Status);
        Assert.Equal(0, job.Attempt);
        Assert.Null(job.LockedBy);
        Assert.Contains("shutting down", job.Message);
    }

    [Fact]
    public async Task ProgressOnEveryTokenIsCoalescedAndNeverGoesDown()
    {
        await using var app = await StartAsync();
        var halfway = new TaskCompletionSource();
        var resume = new TaskCompletionSource();
        var capped = new TaskCompletionSource();
        var finish = new TaskCompletionSource();
        var key = Scripts.Add(async ctx =>
        {
            for (var token = 1; token <= 1000; token++)
                await ctx.ReportProgressAsync(token * 50.0 / 1000, $"Generating… {token} tokens");
            await ctx.ReportProgressAsync(10, "going back?"); // ignored: never down
            halfway.SetResult();
            await resume.Task;
            await ctx.ReportProgressAsync(250, "almost"); // capped: 100 belongs to completion
            capped.SetResult();
            await finish.Task;
            return new { tokens = 1000 };
        });
        async Task<int> ProgressEvents(Guid job) => (await app.EventsAsync(job)).Count(e => e.Kind == "progress");

        // The progress flusher's period: Worker:ProgressIntervalMs (500 here) or Events:OutputFlushMs (200), the shorter.
        var flusher = TimeSpan.FromMilliseconds(200);

        var id = await app.SubmitAsync(Scripts.Job(key));
        await halfway.Task.WaitAsync(TimeSpan.FromSeconds(15));
        var duringBurst = await ProgressEvents(id);
        var armed = app.Time.Armed(flusher); // armed when the worker started
        app.Time.Advance(TimeSpan.FromMilliseconds(500)); // one flush interval
        var flushed = await app.WaitForAsync(id, j => j.Progress == 50, "flushed at 50");
        Assert.Equal("going back?", flushed.Message);
        resume.SetResult();
        await capped.Task.WaitAsync(TimeSpan.FromSeconds(15));
        await app.Time.UntilArmedAsync(flusher, armed + 1); // its pass done, the flusher waits again: the move below reaches it
        app.Time.Advance(TimeSpan.FromMilliseconds(500));
        await app.WaitForAsync(id, j => j.Progress == 99 && j.Message == "almost", "capped at 99 while running");
        finish.SetResult();
        var done = await app.WaitForStatusAsync(id, JobStatus.Completed);

        Assert.InRange(duringBurst, 1, 2); // 1,001 reports in one interval: the first write, no more
        Assert.Equal(100, done.Progress);
        Assert.InRange(await ProgressEvents(id), 2, 4);
    }

    [Fact]
    public async Task TextNotYetDueGoesOutWithADueProgress()
    {
        // Progress is due every 200 ms here, text only every second.
        await using var app = await StartAsync(new() { ["Worker:ProgressIntervalMs"] = "200", ["Events:OutputFlushMs"] = "1000" });
        var first = new TaskCompletionSource();
        var more = new TaskCompletionSource();
        var second = new TaskCompletionSource();
        var finish = new TaskCompletionSource();
        var key = Scripts.Add(async ctx =>
        {
            ctx.StreamText("Hello", newCall: true);
            await ctx.ReportProgressAsync(10); // the first write: both due
            first.SetResult();
            await more.Task;
            ctx.StreamText(", world");
            await ctx.ReportProgressAsync(20); // progress due again, the text not for another 800 ms
            second.SetResult();
            await finish.Task;
            return new { ok = true };
        });

        var id = await app.SubmitAsync(Scripts.Job(key));
        await first.Task.WaitAsync(TimeSpan.FromSeconds(15));
        app.Time.Advance(TimeSpan.FromMilliseconds(200));
        more.SetResult();
        await second.Task.WaitAsync(TimeSpan.FromSeconds(15));
        var events = (await app.EventsAsync(id)).Where(e => e.Kind is "progress" or "output").ToList();
        finish.SetResult();
        await app.WaitForStatusAsync(id, JobStatus.Completed);

        Assert.Equal(["progress", "output", "progress", "output"], events.Select(e => e.Kind));
        Assert.Equal(", world", JsonDocument.Parse(events[3].Data!).RootElement.GetProperty("text").GetString());
        Assert.Equal(events[2].Seq + 1, events[3].Seq); // written together: nothing between them
    }

    [Fact]
    public async Task AFailedJobRetriedByHandRunsAgainOnTheWorker()
    {
        await using var app = await StartAsync();
        var key = Scripts.Add(ctx => Scripts.RunsOf(ctx.Payload.GetProperty("key").GetString()!) == 1
            ? throw new NonRetryableJobException("first run fails")
            : Task.FromResult<object?>(new { ok = true }));
        var id = await app.SubmitAsync(Scripts.Job(key));
        await app.WaitForStatusAsync(id, JobStatus.Failed);

        (await app.Client.PostAsync($"/jobs/{id}/retry", null)).EnsureSuccessStatusCode();

        var job = await app.WaitForStatusAsync(id, JobStatus.Completed);
        Assert.Equal(1, job.Attempt);
        Assert.Null(job.Error);
        Assert.Equal(2, Scripts.RunsOf(key));
    }

    [Fact]
    public async Task PerTypeConcurrencyLimitsHowManyRunAtOnce()
    {
        await using var app = await StartAsync(new() { ["Worker:Concurrency"] = "8", ["Jobs:Types:scripted:Concurrency"] = "2" });
        var running = 0;
        var peak = 0;
        var release = new TaskCompletionSource();
        var twoRunning = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var key = Scripts.Add(async ctx =>
        {
            var now = Interlocked.Increment(ref running);
            InterlockedMax(ref peak, now);
            if (now >= 2) twoRunning.TrySetResult();
            await release.Task;
            Interlocked.Decrement(ref running);
            return null;
        });
        var ids = new List<Guid>();
        for (var i = 0; i < 6; i++) ids.Add(await app.SubmitAsync(Scripts.Job(key)));
        await twoRunning.Task.WaitAsync(TimeSpan.FromSeconds(15));

        release.SetResult();
        foreach (var id in ids) await app.WaitForStatusAsync(id, JobStatus.Completed);
        Assert.Equal(2, peak);
    }

    [Fact]
    public async Task RetentionDeletesOldFinishedJobsAndTheirLogsInBatches()
    {
        // The background cleaner is off: this test runs the pass itself, at a known time.
        await using var app = await StartAsync(new() { ["Retention:BatchSize"] = "2", ["Retention:CompletedHours"] = "1", ["Retention:Enabled"] = "false" });
        var key = Scripts.Add(async ctx => { await ctx.LogAsync(JobLogLevel.Info, "hello"); return null; });
        var old = new List<Guid>();
        for (var i = 0; i < 5; i++) old.Add(await app.SubmitAsync(Scripts.Job(key)));
        foreach (var id in old) await app.WaitForStatusAsync(id, JobStatus.Completed);
        app.Time.Advance(TimeSpan.FromHours(2));
        var fresh = await app.SubmitAsync(Scripts.Job(key));
        await app.WaitForStatusAsync(fresh, JobStatus.Completed);
        var pending = await app.SubmitAsync(new { type = "greet", payload = new { name = "x" }, run_at = DateTime.UtcNow.AddDays(30) });

        var deleted = await app.Get<RetentionCleaner>().CleanOnceAsync(default);

        Assert.Equal(5, deleted);
        await using var db = await app.Get<IDbContextFactory<JobsDbContext>>().CreateDbContextAsync();
        Assert.Equal(new[] { fresh, pending }.Order(), (await db.Jobs.Select(j => j.Id).ToListAsync()).Order());
        var events = await db.JobEvents.ToListAsync();
        Assert.Equal(new[] { fresh, pending }.Order(), events.Select(e => e.JobId).Distinct().Order()); // the old jobs' events went
        Assert.Contains(events, e => e.JobId == fresh && e.Message == "hello");
    }

    /// <summary>
    /// Regression: compaction took the oldest finished jobs each time, whether or not it had
    /// compacted them already, so past the first Retention:BatchSize jobs nothing was ever compacted.
    /// </summary>
    [Fact]
    public async Task CompactionReachesEveryFinishedJobNotOnlyTheOldestBatch()
    {
        await using var app = await StartAsync(new() { ["Retention:BatchSize"] = "2", ["Retention:Enabled"] = "false", ["Events:CompactAfterMinutes"] = "60" });
        var key = Scripts.Add(async ctx => { await ctx.ReportProgressAsync(50, "half way"); await ctx.LogAsync(JobLogLevel.Info, "hello"); return null; });
        var ids = new List<Guid>();
        for (var i = 0; i < 5; i++) ids.Add(await app.SubmitAsync(Scripts.Job(key)));
        foreach (var id in ids) await app.WaitForStatusAsync(id, JobStatus.Completed);
        foreach (var id in ids) Assert.Contains(await app.EventsAsync(id), e => e.Kind == "progress");
        app.Time.Advance(TimeSpan.FromHours(2));

        await app.Get<RetentionCleaner>().CleanOnceAsync(default);
        var later = await app.SubmitAsync(Scripts.Job(key)); // finished after the pass: compacted by a later one
        await app.WaitForStatusAsync(later, JobStatus.Completed);
        app.Time.Advance(TimeSpan.FromHours(2));
        await app.Get<RetentionCleaner>().CleanOnceAsync(default);

        foreach (var id in ids.Append(later))
        {
            var events = await app.EventsAsync(id);
            Assert.DoesNotContain(events, e => e.Kind is "progress" or "output");
            Assert.Contains(events, e => e.Message == "hello"); // the story stays
        }
    }

    [Fact]
    public async Task AnApiOnlyInstanceRunsNoWorker()
    {
        await using var app = await StartAsync(new() { ["Service:Role"] = "api" });

        Assert.Null(app.Services.GetService<JobWorker>());
        Assert.DoesNotContain(app.Services.GetServices<Microsoft.Extensions.Hosting.IHostedService>(), s => s is JobWorker or LeaseRescuer);
        var id = await app.SubmitAsync(new { type = "echo" });
        app.Time.Advance(TimeSpan.FromSeconds(2)); // past a poll interval: nothing here polls (no worker, asserted above)
        Assert.Equal(JobStatus.Pending, (await app.JobAsync(id)).Status);
    }

    [Fact]
    public async Task AWorkerOnlyInstanceRunsJobsAndServesOnlyHealth()
    {
        await using var api = await StartAsync(new() { ["Service:Role"] = "api" });
        var id = await api.SubmitAsync(new { type = "echo", payload = new { text = "from the api" } });
        await using var worker = new WorkerApp(api.Database, new() { ["Service:Role"] = "worker", ["Database:MigrateOnStartup"] = "false" });

        Assert.Equal(System.Net.HttpStatusCode.NotFound, (await worker.Client.GetAsync("/jobs")).StatusCode);
        Assert.Equal(System.Net.HttpStatusCode.OK, (await worker.Client.GetAsync("/health/ready")).StatusCode);
        worker.Time.Advance(TimeSpan.FromSeconds(2)); // its poll finds the job
        var job = await worker.WaitForStatusAsync(id, JobStatus.Completed);
        JsonAssert.Equal("{\"text\":\"from the api\"}", job.Result);
    }

    /// <summary>
    /// A worker started on a backlog claims at most <see cref="RunningJobs.FirstClaimMax"/> jobs first, so
    /// that handlers start while the rest are claimed, and then fills its other slots at once. A claim
    /// stamps its jobs' started_at with its own time (the real clock here), so the earliest are the first claim's.
    /// </summary>
    [Fact]
    public async Task AWorkerStartedOnABacklogClaimsAFirstShareThenFillsEverySlot()
    {
        const int slots = RunningJobs.FirstClaimMax + 50;
        await using var api = await StartAsync(new() { ["Service:Role"] = "api" });
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var allStarted = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var started = 0;
        var held = Scripts.Add(async _ =>
        {
            if (Interlocked.Increment(ref started) == slots) allStarted.TrySetResult();
            await release.Task;
            return null;
        });
        var response = await api.Client.PostAsJsonAsync("/jobs/batch", new { jobs = Enumerable.Range(0, slots).Select(_ => Scripts.Job(held)) });
        response.EnsureSuccessStatusCode();

        await using var worker = new WorkerApp(api.Database, new()
        {
            ["Service:Role"] = "worker", ["Database:MigrateOnStartup"] = "false", ["Worker:Concurrency"] = slots.ToString(),
        }, realClock: true);
        _ = worker.Client; // starts its worker on the backlog
        await allStarted.Task.WaitAsync(TimeSpan.FromSeconds(30)); // every slot filled
        var claimedAt = await api.WithDbAsync(db => db.Jobs.Select(j => j.StartedAt).ToListAsync());
        release.SetResult();

        Assert.Equal(slots, claimedAt.Count(t => t is not null));
        Assert.Equal(RunningJobs.FirstClaimMax, claimedAt.Count(t => t == claimedAt.Min()));
    }

    /// <summary>
    /// A process that only runs workers never starts EF Core, whose first context cost a worker
    /// ~450 ms of start-up: its database wait, migration check, paused types, heartbeat row, claims,
    /// outcomes, lease renewals, readiness probes and metrics gauges all run on plain connections (JobsConnections).
    /// Every context the worker makes is logged here, through its registered options: the one EF
    /// Core is for in a worker, a job's callback_url (its outbox row, stored on the completion's own
    /// connection by JobsConnections.ContextOn), is counted too.
    /// </summary>
    [Fact]
    public async Task AWorkerOnlyInstanceStartsEfCoreOnlyForAnOutboxRow()
    {
        await using var api = await StartAsync(new() { ["Service:Role"] = "api" });
        var id = await api.SubmitAsync(new { type = "echo", payload = new { text = "plain" } });
        var contexts = 0;
        void Count(IServiceProvider _, DbContextOptionsBuilder b) =>
            b.LogTo(_ => Interlocked.Increment(ref contexts), [Microsoft.EntityFrameworkCore.Diagnostics.CoreEventId.ContextInitialized]);
        await using var worker = new WorkerApp(api.Database, new() { ["Service:Role"] = "worker", ["Webhooks:DeliveryEnabled"] = "false" }, configure: services => services
            .ConfigureDbContext<SqliteJobsDbContext>(Count).ConfigureDbContext<PostgresJobsDbContext>(Count));

        Assert.Equal(System.Net.HttpStatusCode.OK, (await worker.Client.GetAsync("/health/ready")).StatusCode);
        worker.Time.Advance(TimeSpan.FromSeconds(2)); // its poll finds the job
        // Woken by the worker's changes, read by the API's process: the worker's own read would count.
        var job = await worker.Changes.UntilAsync(() => api.JobAsync(id), j => j.Status == JobStatus.Completed, TimeSpan.FromSeconds(15),
            j => $"Job {id} never completed: status {j.Status.ToName()}");
        JsonAssert.Equal("{\"text\":\"plain\"}", job.Result);
        var scrape = await worker.Client.GetStringAsync("/metrics"); // the gauges read the jobs table
        Assert.Contains("jobservice_jobs{", scrape);
        Assert.Equal(0, Volatile.Read(ref contexts));

        var hooked = await api.SubmitAsync(new { type = "echo", payload = new { text = "hooked" }, callback_url = "https://hooks.example.com/jobs" });
        worker.Time.Advance(TimeSpan.FromSeconds(2));
        await worker.Changes.UntilAsync(() => api.JobAsync(hooked), j => j.Status == JobStatus.Completed, TimeSpan.FromSeconds(15),
            j => $"Job {hooked} never completed: status {j.Status.ToName()}");
        // One context, from the registered options: its completion's (the delivery row). Its claim
        // needed none: job.started was not asked for, which the claim itself read.
        Assert.Equal(1, Volatile.Read(ref contexts));
        Assert.Equal(1, await api.WithDbAsync(db => db.WebhookDeliveries.CountAsync(d => d.JobId == hooked)));
    }

    /// <summary>
    /// Jobs one at a time, each submitted once the one before has completed: the worker claims once
    /// for each. The claim that takes a job has room for more, so it found all there was, and the
    /// slot the job frees wakes no claim (each job cost a second claim that found nothing); on
    /// PostgreSQL the wake-up's echo from the server, which this node has heard already, wakes none
    /// either. The clock stands still, so no poll claims.
    /// </summary>
    [Fact]
    public async Task AWorkerFedOneJobAtATimeClaimsOnceForEach()
    {
        var claims = new ClaimCounter();
        await using var app = new WorkerApp(await CreateDatabaseAsync(), configure: claims.Wrap);
        await app.Get<IJobDriver>().Notifier.Listening.WaitAsync(TimeSpan.FromSeconds(15)); // the listener's own wake-up is behind us
        async Task RunOneAsync() =>
            await app.WaitForStatusAsync(await app.SubmitAsync(Scripts.Job(Scripts.Add(_ => Task.FromResult<object?>(null)))), JobStatus.Completed);
        await RunOneAsync(); // the start's claims (the first, the rehearsal's) are behind us too
        var before = claims.Count;

        for (var i = 0; i < 5; i++) await RunOneAsync();

        Assert.Equal(5, claims.Count - before);
    }

    /// <summary>
    /// Two jobs hold what a cap allows (the type's own limit, or the tenant's), and a third is
    /// submitted: its claim takes nothing, as the cap says. It starts once one of the first two is
    /// done (its slot freed; for the tenant's cap, counted from the rows, its outcome written), with
    /// no poll (the clock stands still) and no notice: a claim a cap held back waits for that too,
    /// where one that found nothing to take waits only for news.
    /// </summary>
    [Theory]
    [InlineData("Jobs:Types:scripted:Concurrency")]
    [InlineData("Tenants:MaxRunningPerTenant")]
    public async Task AJobACapHeldBackStartsWhenASlotFrees(string cap)
    {
        var claims = new ClaimCounter();
        await using var app = new WorkerApp(await CreateDatabaseAsync(), new() { ["Worker:Concurrency"] = "8", [cap] = "2" }, configure: claims.Wrap);
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var holding = Scripts.Add(async _ => { await release.Task; return null; });
        foreach (var id in new[] { await app.SubmitAsync(Scripts.Job(holding)), await app.SubmitAsync(Scripts.Job(holding)) })
            await app.WaitForStatusAsync(id, JobStatus.Running);

        var claimed = claims.NextReturn;
        var third = await app.SubmitAsync(Scripts.Job(Scripts.Add(_ => Task.FromResult<object?>(null))));
        await claimed.WaitAsync(TimeSpan.FromSeconds(15));
        Assert.Equal(JobStatus.Pending, (await app.JobAsync(third)).Status);

        release.SetResult();
        await app.WaitForStatusAsync(third, JobStatus.Completed);
    }

    static void InterlockedMax(ref int target, int value)
    {
        int current;
        while ((current = Volatile.Read(ref target)) < value && Interlocked.CompareExchange(ref target, value, current) != current) { }
    }

}

public sealed class SqliteWorkerTests : WorkerContract
{
    protected override Task<TestDatabase> CreateDatabaseAsync() => Task.FromResult(TestDatabase.Sqlite());
}

public sealed class PostgresWorkerTests : WorkerContract
{
    [Fact]
    public async Task TheListenerReconnectsAfterItsConnectionIsKilled()
    {
        await using var app = await StartAsync(new() { ["Worker:PollIntervalMs"] = "600000" });
        var contexts = app.Get<IDbContextFactory<JobsDbContext>>();
        async Task<int?> ListenerPid()
        {
            await using var db = await contexts.CreateDbContextAsync();
            return (await db.Database.SqlQuery<int>($"SELECT pid AS \"Value\" FROM pg_stat_activity WHERE datname = current_database() AND query LIKE 'LISTEN%'").ToListAsync()).Cast<int?>().FirstOrDefault();
        }
        int? first = null, second = null; // only PostgreSQL knows the listener's session
        await Poll.UntilAsync(async () => (first = await ListenerPid()) is not null, "the listener listens", TimeSpan.FromSeconds(15));

        await using (var db = await contexts.CreateDbContextAsync())
            await db.Database.ExecuteSqlAsync($"SELECT pg_terminate_backend({first!.Value})");
        await Poll.UntilAsync(async () => (second = await ListenerPid()) is not null && second != first,
            "a new listener session listens", TimeSpan.FromSeconds(15));
        Assert.NotEqual(first, second);

        var id = await InsertAndNotifyAsync(app);
        await app.WaitForStatusAsync(id, JobStatus.Completed); // the NOTIFY came over the new connection: polling is ten minutes away
    }

    /// <summary>
    /// Pooled connections are not reset when they go back (a reset was seven statements before
    /// every request's first query), so the listener must leave nothing behind: with a pool of
    /// two (the listener's connection and the sender's), every connection the pool hands out
    /// afterwards listens to nothing. And it stops whenever it is told to: a stop that lands as
    /// Npgsql's WaitAsync starts is lost there (npgsql/npgsql#5975), which once hung this test for
    /// ever; a few hundred stops at every moment of the loop (some with a notice being sent) show it
    /// no longer does. Not a pool of one: the sender then waited for the listener's connection, and
    /// a stop landing as the pool handed it over now and then left the pool with no connection to
    /// give (seen under CPU load: "the connection pool has been exhausted" at the check below).
    /// </summary>
    [Fact]
    public async Task TheListenerStopsWheneverToldAndGoesBackToThePoolListeningToNothing()
    {
        await using var database = await TestDatabase.PostgresOrSkipAsync();
        await using var source = Npgsql.NpgsqlDataSource.Create(database.ConnectionString + ";Maximum Pool Size=2;No Reset On Close=true");
        for (var i = 0; i < 300; i++)
        {
            var notifier = new PostgresNotifier(source, Microsoft.Extensions.Options.Options.Create(new JobService.Hosting.ServiceOptions()),
                Microsoft.Extensions.Logging.Abstractions.NullLogger<PostgresNotifier>.Instance);
            using var stop = new CancellationTokenSource();
            var run = notifier.RunAsync(stop.Token);
            await notifier.Listening.WaitAsync(TimeSpan.FromSeconds(15));
            if (i % 2 == 1) notifier.Publish(new Notice.JobsAvailable());
            if (i % 3 == 0) stop.Cancel(); else await stop.CancelAsync();
            await run.WaitAsync(TimeSpan.FromSeconds(15));

            await using var first = await source.OpenConnectionAsync();
            await using var second = await source.OpenConnectionAsync(); // both of the pool's connections, whichever listened
            foreach (var connection in new[] { first, second })
            {
                await using var channels = new Npgsql.NpgsqlCommand("SELECT count(*) FROM pg_listening_channels()", connection);
                Assert.Equal(0L, await channels.ExecuteScalarAsync());
            }
        }
    }

    /// <summary>
    /// Event notices go out several to a NOTIFY, split where a payload would pass PostgreSQL's
    /// limit; every API node reads them back item by item. Four hundred jobs' notices (about
    /// 19,000 characters: three NOTIFYs at least) each come back as sent, and one published as
    /// sent with its write's commit does not go again; an item that is not "id:seq" is skipped and
    /// the rest of its payload still read.
    /// </summary>
    [Fact]
    public async Task EventNoticesComeBackAsEveryJobAndSeqSentAndAMalformedItemIsSkipped()
    {
        await using var database = await TestDatabase.PostgresOrSkipAsync();
        await using var source = Npgsql.NpgsqlDataSource.Create(database.ConnectionString);
        var notifier = new PostgresNotifier(source, Microsoft.Extensions.Options.Options.Create(new JobService.Hosting.ServiceOptions()),
            Microsoft.Extensions.Logging.Abstractions.NullLogger<PostgresNotifier>.Instance);
        var heard = System.Threading.Channels.Channel.CreateUnbounded<Notice.EventsAppended>();
        notifier.Received += n => { if (n is Notice.EventsAppended e) heard.Writer.TryWrite(e); };
        using var stop = new CancellationTokenSource();
        var run = notifier.RunAsync(stop.Token);
        await notifier.Listening.WaitAsync(TimeSpan.FromSeconds(15));

        async Task<Dictionary<Guid, long>> HeardAsync(int count)
        {
            var got = new Dictionary<Guid, long>();
            for (var i = 0; i < count; i++)
            {
                var e = await heard.Reader.ReadAsync().AsTask().WaitAsync(TimeSpan.FromSeconds(15));
                got[e.JobId] = e.Seq;
            }
            return got;
        }

        var sent = Enumerable.Range(1, 400).ToDictionary(_ => Guid.CreateVersion7(), i => (long)i * 1_000_003);
        notifier.Publish(new Notice.EventsAppended(Guid.CreateVersion7(), 1, SentWithCommit: true));
        foreach (var (id, seq) in sent) notifier.Publish(new Notice.EventsAppended(id, seq));
        Assert.Equal(sent.OrderBy(e => e.Key), (await HeardAsync(sent.Count)).OrderBy(e => e.Key));

        var (one, two) = (Guid.CreateVersion7(), Guid.CreateVersion7());
        await using (var notify = source.CreateCommand($"SELECT pg_notify('{PostgresNotifier.EventsChannel}', 'x:1,{one}:7,{two}:,:3,{two}:9')"))
            await notify.ExecuteNonQueryAsync();
        Assert.Equal(new Dictionary<Guid, long> { [one] = 7, [two] = 9 }, await HeardAsync(2));

        await stop.CancelAsync();
        await run.WaitAsync(TimeSpan.FromSeconds(15));
        Assert.False(heard.Reader.TryRead(out var more), $"more notices than sent: {more}");
    }

    protected override Task<TestDatabase> CreateDatabaseAsync() => TestDatabase.PostgresOrSkipAsync();

    /// <summary>
    /// A lone submit's wake-up and its created event's notice are NOTIFYs in its own insert, sent by
    /// PostgreSQL at that commit: the notifier here never runs its send loop, so a notice can come
    /// only from the statement, and it comes from the backend that inserted. While another write
    /// carries one, the insert carries none (the loop sends them, coalesced); a batch whose events
    /// do not fit in one notice carries none either; and a rolled-back insert wakes nobody. A marker
    /// NOTIFY sent after each insert shows what the insert sent: notices arrive in commit order. The
    /// wake-up names the node that sent it, whose own listener drops it (it heard it at the commit).
    /// </summary>
    [Fact]
    public async Task ALoneSubmitsNoticesAreSentByItsOwnCommitAndOnlyThen()
    {
        await using var app = await StartAsync();
        var notifier = new PostgresNotifier(app.Get<Npgsql.NpgsqlDataSource>(), Microsoft.Extensions.Options.Options.Create(new JobService.Hosting.ServiceOptions()),
            Microsoft.Extensions.Logging.Abstractions.NullLogger<PostgresNotifier>.Instance); // never run: it sends nothing itself
        var driver = new PostgresDriver(notifier);
        var connections = app.Get<JobsConnections>();
        await using var listener = new Npgsql.NpgsqlConnection(app.Database.ConnectionString);
        await listener.OpenAsync();
        var heard = System.Threading.Channels.Channel.CreateUnbounded<(int Pid, string Channel, string Payload)>();
        listener.Notification += (_, e) => heard.Writer.TryWrite((e.PID, e.Channel, e.Payload));
        await using (var listen = new Npgsql.NpgsqlCommand($"LISTEN {PostgresNotifier.JobsChannel}; LISTEN {PostgresNotifier.EventsChannel}", listener))
            await listen.ExecuteNonQueryAsync();
        var listening = true; // each wait a second at most: a cancel landing as WaitAsync starts can be lost (npgsql/npgsql#5975)
        var waiting = Task.Run(async () => { while (Volatile.Read(ref listening)) await listener.WaitAsync(TimeSpan.FromSeconds(1)); });

        async Task<(bool Carried, int Pid, Guid Id)> InsertAsync(bool commit, int count = 1)
        {
            var now = app.Time.GetUtcNow().UtcDateTime;
            await using var tx = await TransitionTx.BeginAsync(connections, driver, now, selfCommitting: commit, CancellationToken.None);
            var jobs = Enumerable.Range(0, count).Select(_ => new Job { Id = Guid.CreateVersion7(), Type = "$nobody", Status = JobStatus.Pending,
                Payload = "{}", MaxAttempts = 1, EventSeq = 1, Message = "Waiting", RunAt = now, CreatedAt = now, UpdatedAt = now }).ToList();
            var carried = await driver.InsertJobsAsync(tx, jobs, "the test", CancellationToken.None);
            return (carried, ((Npgsql.NpgsqlConnection)tx.Connection).ProcessID, jobs[0].Id); // not committed: disposed, so rolled back
        }
        async Task<List<(int Pid, string Channel, string Payload)>> HeardUntilMarkerAsync()
        {
            await using (var marker = app.Get<Npgsql.NpgsqlDataSource>().CreateCommand($"SELECT pg_notify('{PostgresNotifier.JobsChannel}', 'marker')"))
                await marker.ExecuteNonQueryAsync();
            var notices = new List<(int Pid, string Channel, string Payload)>();
            while (true)
            {
                var notice = await heard.Reader.ReadAsync().AsTask().WaitAsync(TimeSpan.FromSeconds(15));
                if (notice.Payload == "marker") return notices;
                notices.Add(notice);
            }
        }

        try
        {
            var lone = await InsertAsync(commit: true);
            Assert.True(lone.Carried);
            Assert.Equal(new[] { (lone.Pid, PostgresNotifier.JobsChannel, notifier.NodeId), (lone.Pid, PostgresNotifier.EventsChannel, $"{lone.Id}:1") },
                await HeardUntilMarkerAsync());

            var batch = await InsertAsync(commit: true, count: 250); // 250 "id:seq" items are more than one notice holds
            Assert.False(batch.Carried);
            Assert.Empty(await HeardUntilMarkerAsync());

            Assert.True(notifier.TryCarryWakeUp()); // another write carries one
            var second = await InsertAsync(commit: true);
            notifier.WakeUpCarried();
            Assert.False(second.Carried);
            Assert.Empty(await HeardUntilMarkerAsync());

            var rolledBack = await InsertAsync(commit: false);
            Assert.True(rolledBack.Carried);
            Assert.Empty(await HeardUntilMarkerAsync());
        }
        finally
        {
            Volatile.Write(ref listening, false);
            await waiting;
        }
    }

    /// <summary>
    /// One slot: each job's handler returns while its row is locked by another session, so its
    /// outcome cannot be written yet. The slot is free all the same, and the next job runs; the
    /// earlier ones stay held (their leases are this worker's until the outcome is in). With
    /// <see cref="RunningJobs.HeldPerSlot"/> outcomes stuck the worker is at its cap: it claims
    /// nothing more until an outcome is in.
    /// </summary>
    [Fact]
    public async Task ASlotIsFreeWhileTheOutcomeOfItsLastJobIsStillBeingWritten()
    {
        await using var app = await StartAsync(new() { ["Worker:Concurrency"] = "1" });
        var running = app.Get<RunningJobs>();
        await using var db = await app.Get<IDbContextFactory<JobsDbContext>>().CreateDbContextAsync();
        var stuck = new List<Guid>();
        await using (var rowLocks = await db.Database.BeginTransactionAsync())
        {
            for (var n = 0; n < RunningJobs.HeldPerSlot; n++)
            {
                var finish = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
                var result = new { n };
                var id = await app.SubmitAsync(Scripts.Job(Scripts.Add(async _ => { await finish.Task; return result; })));
                await app.WaitForRunningHereAsync(id); // claimed while the earlier outcomes are unwritten
                await db.Database.ExecuteSqlAsync($"SELECT id FROM jobs WHERE id = {id} FOR UPDATE");
                finish.SetResult(); // its outcome now waits for the lock
                await UntilAsync(() => running.Find(id) is { HandlerDone: true });
                stuck.Add(id);
            }
            Assert.All(stuck, id => Assert.True(running.Find(id) is { HandlerDone: true }, "still held by this worker, its handler done"));
            Assert.Equal(1, running.FreeSlots); // no handler runs...
            Assert.Equal(0, running.ClaimRoom(returnedDuringLastClaim: 1)); // ...but the held outcomes fill the cap
            var last = await app.SubmitAsync(Scripts.Job(Scripts.Add(_ => Task.FromResult<object?>(null))));

            await rowLocks.CommitAsync();
            await app.WaitForStatusAsync(last, JobStatus.Completed);
        }
        for (var n = 0; n < stuck.Count; n++)
            JsonAssert.Equal($"{{\"n\":{n}}}", (await app.WaitForStatusAsync(stuck[n], JobStatus.Completed)).Result);

        // Waits on the worker's own slot signal, not a timer.
        async Task UntilAsync(Func<bool> condition)
        {
            for (var next = running.SlotFreed; !condition(); next = running.SlotFreed) await next.WaitAsync(TimeSpan.FromSeconds(15));
        }
    }

    /// <summary>
    /// A full batch of outcomes (<see cref="CompletionBatcher.MaxBatch"/>) means a backlog: the next
    /// batch is written beside it rather than after it. The writer is held on a first job's locked row
    /// while 1,500 more finish; then every one of their rows is locked, and once the first is written
    /// the two batches that follow are both seen waiting on those locks at once.
    /// </summary>
    [Fact]
    public async Task ABacklogOfOutcomesIsWrittenTwoBatchesAtATime()
    {
        const int slots = 200, backlog = 1_500; // a full batch and more behind it, all held at once
        Assert.True(backlog >= CompletionBatcher.MaxBatch + 1 && backlog + 1 <= RunningJobs.HeldPerSlot * slots, "the backlog fits the held cap");
        await using var app = await StartAsync(new() { ["Worker:Concurrency"] = slots.ToString() });
        var running = app.Get<RunningJobs>();
        await using var db = await app.Get<IDbContextFactory<JobsDbContext>>().CreateDbContextAsync();
        await using var second = await app.Get<IDbContextFactory<JobsDbContext>>().CreateDbContextAsync();
        var finish = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var first = await app.SubmitAsync(Scripts.Job(Scripts.Add(async _ => { await finish.Task; return null; })));
        await app.WaitForRunningHereAsync(first);
        await using var firstLock = await db.Database.BeginTransactionAsync();
        await db.Database.ExecuteSqlAsync($"SELECT id FROM jobs WHERE id = {first} FOR UPDATE");
        finish.SetResult(); // its outcome, a batch of one, now holds the writer

        var noop = Scripts.Add(_ => Task.FromResult<object?>(null));
        var ids = new List<Guid>();
        for (var request = 0; request < 2; request++)
        {
            var response = await app.Client.PostAsJsonAsync("/jobs/batch", new { jobs = Enumerable.Range(0, backlog / 2).Select(_ => Scripts.Job(noop)) });
            response.EnsureSuccessStatusCode();
            var items = (await response.Content.ReadFromJsonAsync<System.Text.Json.JsonElement>()).GetProperty("items");
            ids.AddRange(items.EnumerateArray().Select(item => item.GetProperty("id").GetGuid()));
        }
        // A job's outcome is queued right after its handler is marked done, in the same synchronous
        // step; the writer, held on the first job, reads the queue only after the round trips below.
        await Poll.UntilAsync(() => ids.All(id => running.Find(id) is { HandlerDone: true }), "all 1,500 handlers returned", TimeSpan.FromSeconds(60));
        await using (var rowLocks = await second.Database.BeginTransactionAsync())
        {
            await second.Database.ExecuteSqlAsync($"SELECT id FROM jobs WHERE id = ANY({ids.ToArray()}) FOR UPDATE");
            await firstLock.CommitAsync(); // the first outcome goes in; the backlog follows

            await Poll.UntilAsync(async () => await app.WithDbAsync(d => d.Database.SqlQuery<int>($"""
                SELECT count(*)::int AS "Value" FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock' AND query LIKE 'WITH done AS%'
                """).SingleAsync()) == 2, "two completion batches wait on the row locks at once", TimeSpan.FromSeconds(30));
            await rowLocks.CommitAsync();
        }
        await app.WaitForStatusAsync(first, JobStatus.Completed);
        await Poll.UntilAsync(async () => await app.WithDbAsync(d => d.Jobs.CountAsync(j => ids.Contains(j.Id) && j.Status == JobStatus.Completed)) == ids.Count,
            "all 1,500 completed", TimeSpan.FromSeconds(60));
    }

    /// <summary>
    /// Handlers that return during a claim's round trip let the next claim take as many more than the
    /// free slots: those wait here for a slot, held and leased, and never run more handlers than
    /// slots. One cancelled while it waits ends without its handler running; one that waits when a
    /// handler returns takes that slot; at shutdown the rest are handed back, their attempt not spent
    /// and their place in the queue kept.
    /// </summary>
    [Fact]
    public async Task JobsClaimedAheadWaitForASlotAndAreCancelledStartedOrHandedBack()
    {
        var app = await StartAsync(new() { ["Worker:Concurrency"] = "4", ["Tenants:MaxRunningPerTenant"] = "100" });
        await using var _ = app;
        var running = app.Get<RunningJobs>();
        var started = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var waitingKey = Scripts.Add(async ctx => { started.TrySetResult(); await new TaskCompletionSource().Task.WaitAsync(ctx.CancellationToken); return null; }); // runs until stopped
        var (busy, release, waiting) = await ClaimAheadAsync(app, slots: 4, waitingKey);
        Assert.Equal(3, waiting.Count);

        (await app.Client.PostAsync($"/jobs/{waiting[0]}/cancel", null)).EnsureSuccessStatusCode();
        await app.WaitForStatusAsync(waiting[0], JobStatus.Cancelled);
        Assert.Contains(await app.LogsAsync(waiting[0]), e => e.Message!.Contains("before its handler started"));
        Assert.Equal(4, running.Handling);

        release[0].SetResult(); // a handler returns: its slot goes to the next waiting job at once
        await started.Task.WaitAsync(TimeSpan.FromSeconds(15));
        Assert.Equal(1, Scripts.RunsOf(waitingKey));
        Assert.Equal(4, running.Handling);
        Assert.Equal([waiting[2]], running.WaitingJobs().Select(r => r.Job.Id));

        var database = app.Database;
        var place = (await app.JobAsync(waiting[2])).RunAt;
        app.Time.Advance(TimeSpan.FromSeconds(1)); // the hand-back's now is later than its run_at (within a heartbeat, 2 s: still waiting for a slot)
        await app.StopAsync(); // grace 0 s in these tests: the running ones are handed back too
        await using var after = database.CreateContext();
        var handedBack = await after.Jobs.AsNoTracking().SingleAsync(j => j.Id == waiting[2]);
        Assert.Equal((JobStatus.Pending, 0, JobTransitions.HandedBackAtShutdown), (handedBack.Status, handedBack.Attempt, handedBack.Message));
        Assert.Equal(place, handedBack.RunAt); // its place in the queue kept (it was reset to the hand-back's now, behind the whole backlog)
        Assert.Equal(1, Scripts.RunsOf(waitingKey)); // only the one that got a slot ever ran
    }

    /// <summary>A job claimed ahead that finds no slot within a heartbeat goes back to the queue, for a worker with room.</summary>
    [Fact]
    public async Task AJobClaimedAheadThatFindsNoSlotWithinAHeartbeatIsHandedBack()
    {
        var app = await StartAsync(new() { ["Worker:Concurrency"] = "2", ["Tenants:MaxRunningPerTenant"] = "100" });
        await using var _ = app;
        using var recorder = new Observability.MeasurementRecorder(app.Get<JobService.Hosting.JobServiceMetrics>());
        var waitingKey = Scripts.Add(_ => Task.FromResult<object?>(null));
        var (_, release, waiting) = await ClaimAheadAsync(app, slots: 2, waitingKey);
        var id = Assert.Single(waiting);

        app.Time.Advance(TimeSpan.FromSeconds(2.5)); // past one heartbeat (2 s here)
        var job = await app.WaitForStatusAsync(id, JobStatus.Pending);

        Assert.Equal((0, JobTransitions.HandedBackSlotsBusy), (job.Attempt, job.Message));
        Assert.Contains(await app.LogsAsync(id), e => e.Message!.Contains("claimed it ahead of a free slot"));
        Assert.Equal(0, Scripts.RunsOf(waitingKey));
        Assert.Empty(app.Get<RunningJobs>().WaitingJobs());
        await recorder.UntilAsync(() => recorder.Outcomes("scripted").Contains("handed_back"), "the hand-back counted");
        Assert.Single(recorder.Outcomes("scripted"), "handed_back"); // the two that returned count success
        foreach (var r in release) r.SetResult();
    }

    /// <summary>
    /// Leaves <paramref name="slots"/> handlers running (each until its release) and slots - 1 jobs of
    /// <paramref name="waitingKey"/> claimed ahead, waiting. How: the claim is held mid-flight on the
    /// turn that claims take under Tenants:MaxRunningPerTenant while slots - 1 handlers return, so the
    /// next claim takes as many ahead; the held claim itself takes one job for its one free slot.
    /// </summary>
    static async Task<(List<Guid> Busy, List<TaskCompletionSource> Release, List<Guid> Waiting)> ClaimAheadAsync(WorkerApp app, int slots, string waitingKey)
    {
        var first = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var during = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var a = await app.SubmitAsync(Scripts.Job(Scripts.Add(async _ => { await first.Task; return null; })));
        var returning = Scripts.Add(async _ => { await during.Task; return null; });
        var others = new List<Guid>();
        for (var i = 1; i < slots; i++) others.Add(await app.SubmitAsync(Scripts.Job(returning)));
        foreach (var id in others.Prepend(a)) await app.WaitForRunningHereAsync(id);

        var release = Enumerable.Range(0, slots).Select(_ => new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously)).ToList();
        var (busy, waiting) = (new List<Guid>(), new List<Guid>());
        await using var db = await app.Get<IDbContextFactory<JobsDbContext>>().CreateDbContextAsync();
        await using (var claimTurn = await db.Database.BeginTransactionAsync())
        {
            await db.Database.ExecuteSqlRawAsync("SELECT pg_advisory_xact_lock(hashtext('jobservice.claim'))");
            first.SetResult(); // a returns; the claim that follows waits for the turn held here
            await app.WaitForStatusAsync(a, JobStatus.Completed);
            await WaitForClaimWaitingAsync(app);
            during.SetResult(); // the others return during that claim
            foreach (var id in others) await app.WaitForStatusAsync(id, JobStatus.Completed);
            foreach (var r in release) busy.Add(await app.SubmitAsync(Scripts.Job(Scripts.Add(async _ => { await r.Task; return null; }))));
            for (var i = 1; i < slots; i++) waiting.Add(await app.SubmitAsync(Scripts.Job(waitingKey)));
            await claimTurn.CommitAsync();
        }
        foreach (var id in busy.Concat(waiting)) await app.WaitForRunningHereAsync(id);
        var running = app.Get<RunningJobs>();
        Assert.Equal(slots, running.Handling);
        Assert.Equal(waiting.ToHashSet(), running.WaitingJobs().Select(r => r.Job.Id).ToHashSet());
        foreach (var id in busy.Concat(waiting)) Assert.Equal(JobStatus.Running, (await app.JobAsync(id)).Status);
        Assert.Equal(0, Scripts.RunsOf(waitingKey));
        return (busy, release, waiting);
    }

    /// <summary>
    /// Waits until a claim of this test's worker waits for the claim turn (an advisory lock on this
    /// database not granted). A poll: PostgreSQL tells no one when a session starts waiting for a
    /// lock, and Npgsql's activity for the command carries no text when it starts.
    /// </summary>
    static Task WaitForClaimWaitingAsync(WorkerApp app) =>
        Poll.UntilAsync(async () => await app.WithDbAsync(db => db.Database.SqlQuery<int>($"""
            SELECT count(*)::int AS "Value" FROM pg_locks
            WHERE locktype = 'advisory' AND NOT granted AND database = (SELECT oid FROM pg_database WHERE datname = current_database())
            """).SingleAsync()) > 0, "a claim waits for the claim turn", TimeSpan.FromSeconds(15));

    [Fact]
    public async Task ANotifyFromAnotherInstanceWakesAnIdleWorkerWithoutPolling()
    {
        await using var app = await StartAsync(new() { ["Worker:PollIntervalMs"] = "600000" });
        await app.Get<IJobDriver>().Notifier.Listening.WaitAsync(TimeSpan.FromSeconds(15));
        var id = await InsertAndNotifyAsync(app);

        await app.WaitForStatusAsync(id, JobStatus.Completed);
    }

    /// <summary>
    /// As another instance would: a job written straight to the table, then a NOTIFY. The job is
    /// not due until the clock moves, and the clock moves without waking anyone, so a wake-up
    /// the worker had before (its start, the listener connecting) finds nothing: only the
    /// NOTIFY can make it claim this job.
    /// </summary>
    static async Task<Guid> InsertAndNotifyAsync(WorkerApp app)
    {
        var key = Scripts.Add(_ => Task.FromResult<object?>(null));
        var id = Guid.CreateVersion7();
        await using var db = await app.Get<IDbContextFactory<JobsDbContext>>().CreateDbContextAsync();
        var now = app.Time.GetUtcNow().UtcDateTime;
        db.Jobs.Add(new Job { Id = id, Type = "scripted", Payload = $"{{\"key\":\"{key}\"}}", MaxAttempts = 1, RunAt = now.AddSeconds(1), CreatedAt = now, UpdatedAt = now });
        await db.SaveChangesAsync();
        app.Time.Advance(TimeSpan.FromSeconds(1));
        await db.Database.ExecuteSqlAsync($"SELECT pg_notify({PostgresNotifier.JobsChannel}, '')");
        return id;
    }

    /// <summary>The notice names the cancel's event; a node of an earlier version sends the job's id alone, which stops whatever runs.</summary>
    [Theory]
    [InlineData("id::text || ':' || event_seq")]
    [InlineData("id::text")]
    public async Task ACancelNotifiedByAnotherInstanceReachesTheHandlerWithoutAHeartbeat(string payload)
    {
        await using var app = await StartAsync();
        var key = Scripts.Add(async ctx => { await Task.Delay(Timeout.Infinite, ctx.CancellationToken); return null; });
        var id = await app.SubmitAsync(Scripts.Job(key));
        await app.WaitForStatusAsync(id, JobStatus.Running);
        // A NOTIFY reaches only a process that listens and a job it has registered as running;
        // the heartbeat covers both gaps in production, but this test's clock stands still.
        await app.Get<IJobDriver>().Notifier.Listening.WaitAsync(TimeSpan.FromSeconds(15));
        await app.WaitForRunningHereAsync(id);

        await using (var db = await app.Get<IDbContextFactory<JobsDbContext>>().CreateDbContextAsync())
        {
            await using var tx = await db.Database.BeginTransactionAsync();
            await db.Jobs.Where(j => j.Id == id).ExecuteUpdateAsync(u => u.SetProperty(j => j.CancelRequested, true).SetProperty(j => j.EventSeq, j => j.EventSeq + 1));
            var sql = "SELECT pg_notify('" + PostgresNotifier.CancelChannel + "', " + payload + ") FROM jobs WHERE id = {0}"; // the payload is the test's own SQL
            await db.Database.ExecuteSqlRawAsync(sql, id);
            await tx.CommitAsync();
        }

        // The fake clock stands still, so no heartbeat runs: only the NOTIFY can deliver this.
        await app.WaitForStatusAsync(id, JobStatus.Cancelled);
    }
}
