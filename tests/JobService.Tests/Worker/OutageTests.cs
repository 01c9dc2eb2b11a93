using System.Diagnostics.Metrics;
using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using JobService.Data;
using JobService.Hosting;
using JobService.Tests.Infrastructure;
using JobService.Worker;
using Microsoft.Extensions.DependencyInjection;

namespace JobService.Tests.Worker;

/// <summary>
/// PostgreSQL stopped and started under a running service (a cluster of the test's own): the API
/// answers 503, not 500; finished work survives the outage; reads recover by themselves.
/// </summary>
public sealed class OutageTests
{
    [Fact]
    public async Task WhileTheDatabaseIsDownTheApiAnswers503WithRetryAfterAndRecoversAfter()
    {
        using var cluster = LocalPostgres.Private();
        await using var database = await TestDatabase.PostgresAsync(cluster.Server);
        await using var app = new WorkerApp(database, new() { ["Service:Role"] = "api" }, realClock: true, ownsDatabase: false);
        var id = await app.SubmitAsync(new { type = "greet", payload = new { name = "before" } });

        cluster.Stop();
        var list = await app.Client.GetAsync("/jobs");
        var submit = await app.Client.PostAsJsonAsync("/jobs", new { type = "greet", payload = new { name = "during" } });
        var ready = await app.Client.GetAsync("/health/ready");
        cluster.Start();
        var after = await app.Client.GetAsync($"/jobs/{id}"); // the pool's connections died: the read is retried on a new one

        foreach (var response in new[] { list, submit })
        {
            var problem = await response.ShouldBeProblemAsync(HttpStatusCode.ServiceUnavailable);
            Assert.Contains("cannot reach its database", problem.Str("detail"));
            Assert.Equal("5", response.Headers.RetryAfter?.ToString());
        }
        Assert.Equal(HttpStatusCode.ServiceUnavailable, ready.StatusCode);
        Assert.Equal(HttpStatusCode.OK, after.StatusCode);
    }

    /// <summary>
    /// Regression: an open event stream that read during an outage ended with a 500 in the log and
    /// its response cut off (a browser's reconnect then met a 503, and EventSource gives up on
    /// one). It now stays open, pinging, and goes on once the database is back. The instance's
    /// streams tell the outage together: each told its own (a warning and a line per stream).
    /// </summary>
    [Fact]
    public async Task AnOpenEventStreamOutlivesADatabaseOutageAndGoesOnAfter()
    {
        using var cluster = LocalPostgres.Private();
        await using var database = await TestDatabase.PostgresAsync(cluster.Server);
        var logs = new LogCapture();
        await using var app = new WorkerApp(database, new()
        {
            ["Service:Role"] = "api", // no worker: the job waits until it is cancelled
            ["Events:HeartbeatSeconds"] = "1",
            ["Events:PollFallbackSeconds"] = "1", // a quiet stream reads every second
            ["Serilog:MinimumLevel"] = "Information",
        }, realClock: true, ownsDatabase: false, configure: services => services.AddSingleton<Serilog.Core.ILogEventSink>(logs));
        var id = await app.SubmitAsync(new { type = "greet", payload = new { name = "through" } });
        await using var job = await SseClient.OpenAsync(app.Client, $"/jobs/{id}/events");
        await using var again = await SseClient.OpenAsync(app.Client, $"/jobs/{id}/events");
        await using var all = await SseClient.OpenAsync(app.Client, "/events");
        Assert.Equal("snapshot", (await job.NextAsync())!.Event);
        Assert.Equal("snapshot", (await again.NextAsync())!.Event);
        Assert.Equal("snapshot-list", (await all.NextAsync())!.Event);

        cluster.Stop();
        foreach (var stream in new[] { job, again, all })
            for (var pings = 0; pings < 3;) // three seconds of reads that meet the outage
                if ((await stream.NextAsync(comments: true))?.Event is not { } kind) Assert.Fail("A stream ended during the outage.");
                else if (kind == ":") pings++;
        cluster.Start();
        await Poll.UntilAsync(async () => (await app.Client.PostAsync($"/jobs/{id}/cancel", null)).StatusCode == HttpStatusCode.OK,
            "the cancel goes through once the database is back", TimeSpan.FromSeconds(30));

        foreach (var stream in new[] { job, again, all })
        {
            SseEvent? e;
            do e = await stream.NextAsync(); while (e is not null && e.Event != "cancelled");
            Assert.NotNull(e); // the same stream told the cancel
        }

        bool Told(string start) => logs.Snapshot().Any(e => e.MessageTemplate.Text.StartsWith(start));
        await Poll.UntilAsync(() => Told("Event streams: the database is back"), "the streams' line once the last of them read again", TimeSpan.FromSeconds(30));
        // One warning for the three streams and one line when they went on: each stream told its own
        // before. (A stream whose first read after the restart meets a dead pooled connection waits
        // again, which may make a second, short outage of it.)
        var lines = logs.Snapshot().Where(e => e.MessageTemplate.Text.StartsWith("Event streams:")).ToList();
        Assert.Equal(Serilog.Events.LogEventLevel.Warning, lines[0].Level);
        Assert.True(lines.Count(e => e.Level == Serilog.Events.LogEventLevel.Warning) <= 2, string.Join(" | ", lines.Select(e => e.RenderMessage())));
        Assert.True(int.Parse(lines[1].Properties["Streams"].ToString()) >= 3, lines[1].RenderMessage()); // all three waited before any went on
    }

    /// <summary>
    /// Regression: with PostgreSQL down for 8 s (less than the lease), a worker holding a finished
    /// outcome gave up after about 3.5 s, stopped renewing, and the job ran again. It now keeps the
    /// outcome and keeps trying while the lease may be its own; the job completes once.
    /// </summary>
    [Fact]
    public async Task AnOutcomeHeldThroughAnOutageShorterThanTheLeaseIsWrittenOnceTheDatabaseIsBack()
    {
        using var cluster = LocalPostgres.Private();
        var database = await TestDatabase.PostgresAsync(cluster.Server);
        await using var app = new WorkerApp(database, new() { ["Worker:LeaseSeconds"] = "60", ["Worker:HeartbeatSeconds"] = "2" },
            realClock: true, ownsDatabase: false);
        var retried = new System.Collections.Concurrent.ConcurrentBag<string>();
        using var listener = ListenToWriteRetries(retried);
        var gate = new TaskCompletionSource();
        var key = Scripts.Add(async ctx => { await gate.Task; return new { attempt = ctx.Attempt }; });
        var id = await app.SubmitAsync(Scripts.Job(key));
        await app.WaitForRunningHereAsync(id);

        cluster.Stop();
        gate.SetResult(); // finished while the database is away
        // Five failed writes take 0.25 + 0.5 + 1 + 2 + 4 s: past the 3.5 s after which the outcome used to be dropped.
        await Poll.UntilAsync(() => retried.Count >= 5, "five failed outcome writes", TimeSpan.FromSeconds(60));
        Assert.NotNull(app.Get<RunningJobs>().Find(id)); // still held, still renewed
        cluster.Start();

        var job = await app.WaitForAsync(id, j => j.Status == JobStatus.Completed, "completed", TimeSpan.FromSeconds(60));
        Assert.Equal(1, job.Attempt);
        Assert.Equal(1, Scripts.RunsOf(key));
        JsonAssert.Equal("""{"attempt": 1}""", job.Result);
        await app.StopAsync();
        await database.DisposeAsync();
    }

    /// <summary>
    /// Regression: "Attempt 1 of 3 failed; retrying" was logged before the retry was written, so
    /// through an outage it was logged (with the handler's stack trace) once per failed write, and
    /// also for a job whose lease ran out meanwhile, which the rescuer took instead. It is logged
    /// once the retry is written.
    /// </summary>
    [Fact]
    public async Task AFailedAttemptIsLoggedOnceItsRetryIsWrittenNotAtEveryTryThroughAnOutage()
    {
        using var cluster = LocalPostgres.Private();
        var database = await TestDatabase.PostgresAsync(cluster.Server);
        var logs = new LogCapture();
        await using var app = new WorkerApp(database, new() { ["Worker:LeaseSeconds"] = "60", ["Worker:HeartbeatSeconds"] = "2", ["Serilog:MinimumLevel"] = "Information" },
            realClock: true, ownsDatabase: false, configure: services => services.AddSingleton<Serilog.Core.ILogEventSink>(logs));
        var retried = new System.Collections.Concurrent.ConcurrentBag<string>();
        using var listener = ListenToWriteRetries(retried);
        var gate = new TaskCompletionSource();
        var key = Scripts.Add(async ctx =>
        {
            await gate.Task;
            if (ctx.Attempt == 1) throw new InvalidOperationException("the model's answer was no good");
            return new { attempt = ctx.Attempt };
        });
        var id = await app.SubmitAsync(Scripts.Job(key, maxAttempts: 3));
        await app.WaitForRunningHereAsync(id);

        cluster.Stop();
        gate.SetResult(); // failed while the database is away
        await Poll.UntilAsync(() => retried.Count >= 3, "three failed writes of the retry", TimeSpan.FromSeconds(60));
        cluster.Start();
        var job = await app.WaitForAsync(id, j => j.Status == JobStatus.Completed, "the retry ran", TimeSpan.FromSeconds(60));

        Assert.Equal(2, job.Attempt);

        var lines = logs.Snapshot().Where(e => e.MessageTemplate.Text.StartsWith("Attempt {Attempt} of {MaxAttempts} failed; retrying")).ToList();
        Assert.Single(lines);
        Assert.Equal("the model's answer was no good", lines[0].Exception?.Message);
        // The outcome write's tries: its first failure and its success told, not each of the 3+ tries between.
        var told = logs.Snapshot().Where(e => e.Level >= Serilog.Events.LogEventLevel.Information && e.MessageTemplate.Text.StartsWith("Writing the outcome of job")).ToList();
        Assert.Single(told);
        Assert.Single(logs.Snapshot(), e => e.MessageTemplate.Text.StartsWith("Wrote the outcome of job {JobId} at try"));
        await app.StopAsync();
        await database.DisposeAsync();
    }

    /// <summary>
    /// Regression: a model call's usage (or a log line) written during a database blip threw out
    /// of the handler: the attempt failed and the model was called again, paid for twice. The
    /// handler now waits for the database while the lease may be its worker's, and goes on.
    /// </summary>
    [Fact]
    public async Task UsageAndLogWrittenDuringAnOutageWaitForTheDatabaseAndTheAttemptGoesOn()
    {
        using var cluster = LocalPostgres.Private();
        var database = await TestDatabase.PostgresAsync(cluster.Server);
        await using var app = new WorkerApp(database, new() { ["Worker:LeaseSeconds"] = "60", ["Worker:HeartbeatSeconds"] = "2" },
            realClock: true, ownsDatabase: false);
        var retried = new System.Collections.Concurrent.ConcurrentBag<string>();
        using var listener = ListenToWriteRetries(retried);
        var gate = new TaskCompletionSource();
        var key = Scripts.Add(async ctx =>
        {
            await gate.Task; // the model has answered
            await ctx.RecordUsageAsync(10, 20, 0.5);
            await ctx.LogAsync(JobService.Handlers.JobLogLevel.Info, "after the call");
            return new { attempt = ctx.Attempt };
        });
        var id = await app.SubmitAsync(Scripts.Job(key));
        await app.WaitForRunningHereAsync(id);

        cluster.Stop();
        gate.SetResult();
        await Poll.UntilAsync(() => retried.Count >= 2, "two failed writes of finished work", TimeSpan.FromSeconds(60));
        cluster.Start();

        var job = await app.WaitForAsync(id, j => j.Status == JobStatus.Completed, "completed", TimeSpan.FromSeconds(60));
        Assert.Equal((1, 1), (job.Attempt, Scripts.RunsOf(key)));
        Assert.Equal((10, 20, 0.5), (job.PromptTokens, job.CompletionTokens, job.CostUsd));
        Assert.Single(await app.EventsAsync(id), e => e.Message == "after the call");
        Assert.Contains("usage", retried); // the usage's write waited, not the outcome of a failed attempt
        await app.StopAsync();
        await database.DisposeAsync();
    }

    /// <summary>
    /// Regression: a webhook the receiver answered while the database was away was not recorded
    /// (one try), so it was sent again once its lease ran out, and the answered attempt was missing
    /// from the delivery's log. The record is now tried again while the lease holds.
    /// </summary>
    [Fact]
    public async Task AWebhookAnsweredWhileTheDatabaseIsAwayIsRecordedOnceItIsBackAndNotSentAgain()
    {
        using var cluster = LocalPostgres.Private();
        var database = await TestDatabase.PostgresAsync(cluster.Server);
        await using var receiver = await WebhookReceiver.StartAsync();
        await using var app = new WorkerApp(database, new()
        {
            ["Webhooks:AllowPrivateNetworks"] = "true", ["Webhooks:AllowedPorts:0"] = receiver.Port.ToString(),
        }, realClock: true, ownsDatabase: false);
        var retried = new System.Collections.Concurrent.ConcurrentBag<string>();
        using var listener = ListenToWriteRetries(retried);
        var answer = new TaskCompletionSource();
        receiver.HoldNext(answer.Task);
        var id = await app.SubmitAsync(new { type = "scripted", payload = new { key = Scripts.Add(_ => Task.FromResult<object?>(null)) },
            callback_url = receiver.Url.ToString() });
        await receiver.NextAsync(); // the send is under way, its answer held

        cluster.Stop();
        answer.SetResult(); // a 200, while the database is away
        await Poll.UntilAsync(() => retried.Contains("webhook_attempt"), "a failed record of the attempt", TimeSpan.FromSeconds(30));
        cluster.Start();

        JsonElement delivery = default;
        await Poll.UntilAsync(async () =>
        {
            var response = await app.Client.GetAsync($"/jobs/{id}/deliveries");
            if (!response.IsSuccessStatusCode) return false;
            delivery = (await response.ReadJsonAsync()).GetProperty("items")[0];
            // The API reads the attempts before the state, so a state may be newer than the log it shows: wait for both.
            return delivery.Str("status") != "pending" && delivery.GetProperty("attempt_log").GetArrayLength() > 0;
        }, "the delivery recorded (its lease runs for 50 s)", TimeSpan.FromSeconds(30), () => delivery.ToString());
        Assert.Equal("succeeded", delivery.Str("status"));
        var attempt = Assert.Single(delivery.GetProperty("attempt_log").EnumerateArray());
        Assert.Equal(200, attempt.GetProperty("response_status").GetInt32());
        Assert.Single(receiver.All);
        await app.StopAsync();
        await database.DisposeAsync();
    }

    /// <summary>Each failed write of finished work the worker will try again (its metric), by what it wrote: outcome, usage, log, webhook attempt.</summary>
    static MeterListener ListenToWriteRetries(System.Collections.Concurrent.ConcurrentBag<string> retried)
    {
        var listener = new MeterListener();
        listener.InstrumentPublished = (instrument, l) =>
        {
            if (instrument.Meter.Name == JobServiceMetrics.MeterName && instrument.Name == "jobservice.worker.outcome_write_retries") l.EnableMeasurementEvents(instrument);
        };
        listener.SetMeasurementEventCallback<long>((_, _, tags, _) =>
        {
            foreach (var tag in tags) if (tag.Key == "jobservice.write") retried.Add((string)tag.Value!);
        });
        listener.Start();
        return listener;
    }

    [Fact]
    public void TheClaimBackoffNeverWaitsLongerThanTwoSeconds()
    {
        Assert.Equal([200, 400, 800, 1600, 2000, 2000], Enumerable.Range(1, 6).Select(n => JobWorker.ClaimBackoff(n).TotalMilliseconds));
        Assert.Equal(2000, JobWorker.ClaimBackoff(1000).TotalMilliseconds);
    }

}
