using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using JobService.Data;
using JobService.Tests.Infrastructure;
using JobService.Transitions;
using JobService.Webhooks;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using StandardWebhooks;
using StandardWebhooks.Diagnostics;

namespace JobService.Tests.Webhooks;

/// <summary>
/// Completion webhooks end to end, on both providers: the whole service on a fake clock sends to
/// a real receiver on loopback, which checks every delivery with the StandardWebhooks library.
/// </summary>
public abstract class WebhookContract : IAsyncLifetime
{
    protected abstract Task<TestDatabase> CreateDatabaseAsync();

    WebhookReceiver _receiver = null!;
    readonly List<WorkerApp> _apps = [];

    public async ValueTask InitializeAsync() => _receiver = await WebhookReceiver.StartAsync();

    public async ValueTask DisposeAsync()
    {
        foreach (var app in _apps) await app.DisposeAsync();
        await _receiver.DisposeAsync();
    }

    /// <summary>The service with the receiver's port allowed; private networks allowed unless the test says otherwise.</summary>
    async Task<WorkerApp> StartAsync(Dictionary<string, string?>? settings = null, Dictionary<string, string>? names = null)
    {
        var all = new Dictionary<string, string?>
        {
            ["Webhooks:AllowPrivateNetworks"] = "true", ["Webhooks:AllowedPorts:0"] = _receiver.Port.ToString(),
        };
        foreach (var (key, value) in settings ?? []) all[key] = value;
        var app = new WorkerApp(await CreateDatabaseAsync(), all,
            configure: names is null ? null : services => services.AddSingleton<IHostResolver>(new NamesResolver(names)));
        _apps.Add(app);
        _ = app.Client;
        return app;
    }

    /// <summary>A test's own DNS: names that resolve where the test says.</summary>
    sealed class NamesResolver(Dictionary<string, string> names) : IHostResolver
    {
        public Task<IPAddress[]> ResolveAsync(string host, CancellationToken ct) =>
            Task.FromResult(names.TryGetValue(host, out var ip) ? new[] { IPAddress.Parse(ip) } : []);
    }

    static object Scripted(string key, string callback, string[]? events = null, int? maxAttempts = null) =>
        new { type = "scripted", payload = new { key }, callback_url = callback, callback_events = events, max_attempts = maxAttempts };

    static string Returns(object? result) => Scripts.Add(_ => Task.FromResult(result));

    static async Task<string> RotateAsync(WorkerApp app) =>
        (await (await app.Client.PostAsync("/webhook-secret/rotate", null)).ReadJsonAsync()).Str("secret");

    static async Task<List<JsonElement>> DeliveriesAsync(WorkerApp app, Guid job)
    {
        var response = await app.Client.GetAsync($"/jobs/{job}/deliveries");
        Assert.True(response.IsSuccessStatusCode, await response.Content.ReadAsStringAsync());
        return (await response.ReadJsonAsync()).GetProperty("items").EnumerateArray().ToList();
    }

    /// <summary>
    /// Waits until the job's first delivery has this many attempts recorded, and returns it: each
    /// recorded attempt is followed by its line in the job's log, a change the wait wakes on.
    /// </summary>
    static async Task<JsonElement> DeliveryAfterAsync(WorkerApp app, Guid job, int attempts) =>
        (await app.Changes.UntilAsync(() => DeliveriesAsync(app, job),
            items => items.Count > 0 && items[0].GetProperty("attempt_log").GetArrayLength() >= attempts, TimeSpan.FromSeconds(20),
            items => $"The delivery of job {job} never had {attempts} attempt(s) recorded: {string.Join(", ", items)}"))[0];

    /// <summary>Waits for a line in the job's log: delivery outcomes are written just after the attempt.</summary>
    static Task LogLineAsync(WorkerApp app, Guid job, Func<string, bool> matches) =>
        app.Changes.UntilAsync(() => app.LogsAsync(job), lines => lines.Any(e => matches(e.Message!)), TimeSpan.FromSeconds(20),
            lines => $"Job {job}'s log never had the line: {string.Join(" | ", lines.Select(e => e.Message))}");

    /// <summary>
    /// Moves the fake clock past a delivery's next attempt and wakes the dispatcher: its poll is a
    /// wait on this clock, and one armed just after the move would wait for a second that never comes.
    /// </summary>
    static void AdvanceTo(WorkerApp app, DateTime next)
    {
        app.Time.Advance(next - app.Time.GetUtcNow().UtcDateTime + TimeSpan.FromSeconds(1));
        app.Get<WebhookSignal>().Wake();
    }

    static void Verify(string secret, ReceivedWebhook hook) => new StandardWebhook(secret).Verify(hook.Body, hook.Headers);

    [Fact]
    public async Task ACompletedJobsWebhookIsSignedAsStandardWebhooksSays()
    {
        var app = await StartAsync();
        var secret = await RotateAsync(app);
        Assert.StartsWith("whsec_", secret);
        Assert.True(Convert.FromBase64String(secret["whsec_".Length..]).Length >= 24);

        var id = await app.SubmitAsync(Scripted(Returns(new { text = "done" }), _receiver.Url.ToString()));
        var hook = await _receiver.NextAsync();

        Verify(secret, hook); // the spec's own library, not our code
        Assert.StartsWith("JobService-Webhooks/", hook.UserAgent);
        Assert.StartsWith("application/json", hook.ContentType);
        var body = JsonDocument.Parse(hook.Body).RootElement;
        Assert.Equal("job.completed", body.Str("type"));
        Assert.True(DateTime.TryParse(body.Str("timestamp"), out _));
        var job = body.GetProperty("data").GetProperty("job");
        Assert.Equal(id, job.Id());
        Assert.Equal("completed", job.Str("status"));
        Assert.Equal("done", job.GetProperty("result").Str("text"));
        Assert.False(job.GetProperty("result_truncated").GetBoolean());
        Assert.False(job.TryGetProperty("payload", out _)); // Webhooks:IncludePayload is off
        Assert.Throws<WebhookVerificationException>(() => Verify("whsec_" + Convert.ToBase64String(new byte[32]), hook));

        var delivery = await DeliveryAfterAsync(app, id, 1);
        Assert.Equal(hook.Id, delivery.Str("id"));
        Assert.Equal("succeeded", delivery.Str("status"));
        Assert.Equal(200, delivery.GetProperty("attempt_log")[0].GetProperty("response_status").GetInt32());
        await LogLineAsync(app, id, line => line.Contains("job.completed") && line.Contains("delivered"));
    }

    [Fact]
    public async Task DuringARotationBothSecretsSignAndEitherVerifies()
    {
        var app = await StartAsync();
        var old = await RotateAsync(app);
        var fresh = await RotateAsync(app);

        await app.SubmitAsync(Scripted(Returns(null), _receiver.Url.ToString()));
        var hook = await _receiver.NextAsync();

        Assert.Equal(2, hook.Signature.Split(' ').Distinct().Count());
        Verify(old, hook);
        Verify(fresh, hook);
        var shown = await (await app.Client.GetAsync("/webhook-secret")).ReadJsonAsync();
        Assert.StartsWith(shown.Str("prefix").TrimEnd('…'), fresh);
        Assert.NotEqual(JsonValueKind.Null, shown.GetProperty("previous_valid_until").ValueKind);
    }

    /// <summary>
    /// Regression: reading the secret made one, which nothing could ever show (only a rotation
    /// shows a secret), and the first rotation then kept that unknown secret signing beside the new one.
    /// </summary>
    [Fact]
    public async Task ReadingTheSecretBeforeThereIsOneMakesNone()
    {
        var app = await StartAsync();

        var before = await app.Client.GetAsync("/webhook-secret");
        Assert.Equal(HttpStatusCode.NotFound, before.StatusCode);
        Assert.Contains("POST /webhook-secret/rotate", (await before.ReadJsonAsync()).Str("detail"));
        Assert.Equal(HttpStatusCode.NotFound, (await app.Client.GetAsync("/webhook-secret")).StatusCode);

        var first = await (await app.Client.PostAsync("/webhook-secret/rotate", null)).ReadJsonAsync();
        Assert.Equal(JsonValueKind.Null, first.GetProperty("previous_valid_until").ValueKind);
        await app.SubmitAsync(Scripted(Returns(null), _receiver.Url.ToString()));
        var hook = await _receiver.NextAsync();
        Assert.Single(hook.Signature.Split(' ')); // the first secret alone signs
        Verify(first.Str("secret"), hook);
        var shown = await (await app.Client.GetAsync("/webhook-secret")).ReadJsonAsync();
        Assert.StartsWith(shown.Str("prefix").TrimEnd('…'), first.Str("secret"));
    }

    /// <summary>Regression: a second rotation during the first one's overlap dropped the oldest secret at once, a day before the end it was given.</summary>
    [Fact]
    public async Task ARotationDuringAnOverlapIsRefusedUnlessItSaysToDropThePreviousSecret()
    {
        var app = await StartAsync();
        var first = await RotateAsync(app); // the tenant's first: it signs alone
        var second = await RotateAsync(app); // the first signs beside it for the overlap

        var again = await app.Client.PostAsync("/webhook-secret/rotate", null);
        var problem = await again.ShouldBeProblemAsync(HttpStatusCode.Conflict);
        Assert.Contains("drop_previous=true", problem.Str("detail"));
        Assert.Equal(JsonValueKind.String, problem.GetProperty("previous_valid_until").ValueKind);
        await app.SubmitAsync(Scripted(Returns(null), _receiver.Url.ToString()));
        var hook = await _receiver.NextAsync();
        Verify(first, hook);
        Verify(second, hook);

        var third = (await (await app.Client.PostAsync("/webhook-secret/rotate?drop_previous=true", null)).ReadJsonAsync()).Str("secret");
        await app.SubmitAsync(Scripted(Returns(null), _receiver.Url.ToString()));
        var after = await _receiver.NextAsync();
        Verify(second, after);
        Verify(third, after);
        Assert.ThrowsAny<Exception>(() => Verify(first, after)); // dropped, as asked
    }

    /// <summary>Regression: Webhooks:RetrySchedule's first wait, "the wait before each attempt, the first included", was never waited.</summary>
    [Fact]
    public async Task TheSchedulesFirstWaitComesBeforeTheFirstAttempt()
    {
        var app = await StartAsync(new() { ["Webhooks:RetrySchedule"] = "20s,5s" });
        var id = await app.SubmitAsync(Scripted(Returns(null), _receiver.Url.ToString()));
        var job = await app.WaitForStatusAsync(id, JobStatus.Completed);

        var delivery = Assert.Single(await DeliveriesAsync(app, id));
        var next = delivery.GetProperty("next_attempt_at").GetDateTime().ToUniversalTime();
        Assert.InRange(next - job.CompletedAt!.Value, TimeSpan.FromSeconds(18), TimeSpan.FromSeconds(22)); // 20 s ±10 %
        Assert.Equal(0, delivery.GetProperty("attempts").GetInt32());
        AdvanceTo(app, next);
        await _receiver.NextAsync();
    }

    /// <summary>Regression: while an attempt was under way, the deliveries list gave its sender's lease end as the next attempt.</summary>
    [Fact]
    public async Task ADeliveryBeingSentSaysSoAndGivesNoNextAttempt()
    {
        var app = await StartAsync();
        var answer = new TaskCompletionSource();
        _receiver.HoldNext(answer.Task);
        var id = await app.SubmitAsync(Scripted(Returns(null), _receiver.Url.ToString()));
        await _receiver.NextAsync(); // attempt 1 has arrived; its answer is held

        try
        {
            var sending = Assert.Single(await DeliveriesAsync(app, id));
            Assert.True(sending.GetProperty("sending").GetBoolean());
            Assert.Equal(JsonValueKind.Null, sending.GetProperty("next_attempt_at").ValueKind);
            Assert.Equal(("pending", 1), (sending.Str("status"), sending.GetProperty("attempts").GetInt32()));
        }
        finally { answer.SetResult(); } // a held answer would hold the receiver's stop too
        var done = await DeliveryAfterAsync(app, id, 1);
        Assert.Equal("succeeded", done.Str("status"));
        Assert.False(done.GetProperty("sending").GetBoolean());
    }

    [Fact]
    public async Task FailuresAreRetriedOnTheScheduleWithOneWebhookIdUntilA2xx()
    {
        var app = await StartAsync();
        var secret = await RotateAsync(app);
        foreach (var _ in Enumerable.Range(0, 3)) _receiver.Answer(500);
        var id = await app.SubmitAsync(Scripted(Returns(null), _receiver.Url.ToString()));
        var waits = new[] { TimeSpan.FromSeconds(5), TimeSpan.FromMinutes(5), TimeSpan.FromMinutes(30) };
        var ids = new List<string> { (await _receiver.NextAsync()).Id };

        for (var attempt = 1; attempt <= 3; attempt++)
        {
            var delivery = await DeliveryAfterAsync(app, id, attempt);
            Assert.Equal("pending", delivery.Str("status"));
            var last = delivery.GetProperty("attempt_log")[attempt - 1];
            Assert.Equal(500, last.GetProperty("response_status").GetInt32());
            var next = delivery.GetProperty("next_attempt_at").GetDateTime().ToUniversalTime();
            var wait = next - last.GetProperty("started_at").GetDateTime().ToUniversalTime();
            Assert.InRange(wait, waits[attempt - 1] * 0.9, waits[attempt - 1] * 1.1 + TimeSpan.FromSeconds(1)); // ±10 % jitter
            AdvanceTo(app, next);
            ids.Add((await _receiver.NextAsync()).Id);
        }

        var done = await DeliveryAfterAsync(app, id, 4);
        Assert.Equal("succeeded", done.Str("status"));
        Assert.Equal([500, 500, 500, 200], done.GetProperty("attempt_log").EnumerateArray().Select(a => a.GetProperty("response_status").GetInt32()));
        Assert.Single(ids.Distinct()); // the receiver's idempotency key holds across retries
        Assert.All(_receiver.All, hook => Verify(secret, hook)); // every attempt signed, each with its own timestamp
        Assert.Single(_receiver.All.Select(h => h.Body).Distinct()); // the same bytes every time
    }

    [Fact]
    public async Task A410StopsAtOnceAsGone()
    {
        var app = await StartAsync();
        _receiver.Answer(410);
        var id = await app.SubmitAsync(Scripted(Returns(null), _receiver.Url.ToString()));
        await _receiver.NextAsync();

        var delivery = await DeliveryAfterAsync(app, id, 1);

        Assert.Equal("gone", delivery.Str("status"));
        Assert.Equal(JsonValueKind.Null, delivery.GetProperty("next_attempt_at").ValueKind);
        await LogLineAsync(app, id, line => line.Contains("410"));
    }

    /// <summary>
    /// A receiver's answer is anyone's text: one with a NUL (which PostgreSQL refuses) is recorded
    /// with U+FFFD in its place, once, and the webhook is not sent again.
    /// </summary>
    [Fact]
    public async Task AnAnswerWithANulIsRecordedOnceAndNotSentAgain()
    {
        var app = await StartAsync();
        _receiver.Answer(200, "ok\0done");
        var id = await app.SubmitAsync(Scripted(Returns(null), _receiver.Url.ToString()));
        await _receiver.NextAsync();

        var delivery = await DeliveryAfterAsync(app, id, 1);

        Assert.Equal("succeeded", delivery.Str("status"));
        Assert.Equal("ok\uFFFDdone", delivery.GetProperty("attempt_log")[0].Str("response_body"));
        Assert.Single(_receiver.All);
    }

    [Fact]
    public async Task A429sRetryAfterIsHonouredWhenLongerThanTheSchedule()
    {
        var app = await StartAsync();
        _receiver.Answer(429, ("Retry-After", "600"));
        var id = await app.SubmitAsync(Scripted(Returns(null), _receiver.Url.ToString()));
        await _receiver.NextAsync();

        var delivery = await DeliveryAfterAsync(app, id, 1);
        var started = delivery.GetProperty("attempt_log")[0].GetProperty("started_at").GetDateTime().ToUniversalTime();
        var next = delivery.GetProperty("next_attempt_at").GetDateTime().ToUniversalTime();
        Assert.True(next - started >= TimeSpan.FromSeconds(600), $"next attempt {next - started} after the 429, not the 600 s it asked for");

        AdvanceTo(app, next);
        await _receiver.NextAsync();
        var done = await DeliveryAfterAsync(app, id, 2);
        Assert.True(done.Str("status") == "succeeded", done.ToString());
    }

    [Fact]
    public async Task ARedirectIsAFailureAndIsNotFollowed()
    {
        var app = await StartAsync();
        _receiver.Answer(302, ("Location", new Uri(_receiver.Url, "/elsewhere").ToString()));
        var id = await app.SubmitAsync(Scripted(Returns(null), _receiver.Url.ToString()));
        await _receiver.NextAsync();

        var delivery = await DeliveryAfterAsync(app, id, 1);

        Assert.Equal("pending", delivery.Str("status")); // retried later, like any failure
        Assert.Equal(302, delivery.GetProperty("last_response_status").GetInt32());
        Assert.Contains("redirect", delivery.Str("last_error"));
        Assert.Single(_receiver.All); // /elsewhere was never asked for: the client would have followed before the outcome was written
    }

    /// <summary>With private networks off, names and literals that reach inside are refused when connecting: blocked, never sent, not retried.</summary>
    [Fact]
    public async Task InternalAddressesAreRefusedAtConnectTimeAndRecordedBlocked()
    {
        var app = await StartAsync(new() { ["Webhooks:AllowPrivateNetworks"] = "false" },
            names: new() { ["rebind.test"] = "127.0.0.1", ["metadata.test"] = "169.254.169.254" });
        var port = _receiver.Port;
        // A literal the submit check refuses today, stored before that (or by a LAN deployment since reconfigured).
        var later = await app.SubmitAsync(new { type = "scripted", payload = new { key = Returns(null) }, run_at = app.Time.GetUtcNow().AddMinutes(1),
            callback_url = "https://hooks.example.com/" });
        await app.WithDbAsync(db => db.Jobs.Where(j => j.Id == later).ExecuteUpdateAsync(u => u.SetProperty(j => j.CallbackUrl, $"http://[::ffff:127.0.0.1]:{port}/hook")));
        var viaName = await app.SubmitAsync(Scripted(Returns(null), $"http://rebind.test:{port}/hook"));
        var metadata = await app.SubmitAsync(Scripted(Returns(null), "http://metadata.test/latest/meta-data/"));
        await DeliveryAfterAsync(app, viaName, 1);
        await DeliveryAfterAsync(app, metadata, 1); // before the clock moves: a send in flight must not outlive its lease
        app.AdvanceAndWake(TimeSpan.FromMinutes(2));

        foreach (var id in new[] { viaName, metadata, later })
        {
            var delivery = await DeliveryAfterAsync(app, id, 1);
            Assert.Equal("blocked", delivery.Str("status"));
            Assert.Equal(1, delivery.GetProperty("attempts").GetInt32());
            Assert.Contains("internal address", delivery.Str("last_error"));
            await LogLineAsync(app, id, line => line.Contains("blocked"));
        }
        Assert.Empty(_receiver.All); // the receiver listens on 127.0.0.1 at that port: nothing reached it
    }

    [Fact]
    public async Task RedeliverSendsAgainWithTheSameWebhookId()
    {
        var app = await StartAsync();
        var id = await app.SubmitAsync(Scripted(Returns(null), _receiver.Url.ToString()));
        var first = await _receiver.NextAsync();
        var delivery = await DeliveryAfterAsync(app, id, 1);

        var response = await app.Client.PostAsync($"/deliveries/{delivery.Str("id")}/redeliver", null);

        Assert.Equal(HttpStatusCode.Accepted, response.StatusCode);
        Assert.Equal(first.Id, (await _receiver.NextAsync()).Id);
        var again = await DeliveryAfterAsync(app, id, 2);
        Assert.Equal("succeeded", again.Str("status"));
        await (await app.Client.PostAsync($"/deliveries/{Guid.NewGuid()}/redeliver", null)).ShouldBeProblemAsync(HttpStatusCode.NotFound);
    }

    [Fact]
    public async Task StartedAndRetryingAreSentWhenAskedFor()
    {
        var app = await StartAsync(new() { ["Worker:RetryBaseSeconds"] = "1" });
        var runs = 0;
        var key = Scripts.Add(_ => Interlocked.Increment(ref runs) == 1 ? throw new InvalidOperationException("first try fails") : Task.FromResult<object?>(null));
        var id = await app.SubmitAsync(Scripted(key, _receiver.Url.ToString(), ["job.started", "job.retrying", "job.completed"], maxAttempts: 2));

        // Deliveries go out side by side, so each attempt's pair may arrive in either order.
        async Task<List<string>> TwoAsync()
        {
            try
            {
                return [.. (await Task.WhenAll(_receiver.NextAsync(), _receiver.NextAsync())).Select(h => JsonDocument.Parse(h.Body).RootElement.Str("type")).Order()];
            }
            catch (TimeoutException e) // say where the job and its deliveries stood, for a failure seen only in a full run
            {
                var job = await app.JobAsync(id);
                throw new TimeoutException($"{e.Message} The job: {job.Status}, attempt {job.Attempt}, run_at {job.RunAt:O}, clock {app.Time.GetUtcNow():O}; " +
                    $"its deliveries: {await app.Client.GetStringAsync($"/jobs/{id}/deliveries")}", e);
            }
        }
        var first = await TwoAsync();
        await app.WaitForAsync(id, j => j.Status == JobStatus.Pending && j.Attempt == 1, "waiting to retry");
        app.AdvanceAndWake(TimeSpan.FromSeconds(5));
        var second = await TwoAsync();

        Assert.Equal(["job.retrying", "job.started"], first);
        Assert.Equal(["job.completed", "job.started"], second);
    }

    /// <summary>
    /// Regression: a job handed back by a stopping worker (not its fault: the attempt is given
    /// back) was told to a receiver as started, and then started again for the same attempt, with
    /// nothing between. The hand-back is a job.retrying: it lost its worker and will run again.
    /// </summary>
    [Fact]
    public async Task AJobHandedBackAtShutdownCallsRetrying()
    {
        var app = await StartAsync();
        var id = await app.SubmitAsync(new { type = "scripted", payload = new { key = Scripts.Add(async ctx =>
        {
            await new TaskCompletionSource().Task.WaitAsync(ctx.CancellationToken); // only the stop ends it
            return null;
        }) }, callback_url = _receiver.Url.ToString(), callback_events = new[] { "job.started", "job.retrying", "job.completed" } });
        await app.WaitForStatusAsync(id, JobStatus.Running);
        var database = app.Database;

        await app.StopAsync(); // as SIGTERM does: the job is handed back

        await using var db = database.CreateContext();
        var job = await db.Jobs.AsNoTracking().SingleAsync(j => j.Id == id);
        Assert.Equal((JobStatus.Pending, 0, JobTransitions.HandedBackAtShutdown), (job.Status, job.Attempt, job.Message));
        var written = await db.WebhookDeliveries.AsNoTracking().Where(d => d.JobId == id).OrderBy(d => d.CreatedAt).ThenBy(d => d.Id)
            .Select(d => new { d.EventType, d.Body }).ToListAsync();
        Assert.Equal(["job.started", "job.retrying"], written.Select(d => d.EventType));
        var told = JsonDocument.Parse(written[1].Body).RootElement.GetProperty("data").GetProperty("job");
        Assert.Equal(("pending", 0), (told.Str("status"), told.GetProperty("attempt").GetInt32()));
    }

    /// <summary>
    /// Regression: a 2xx whose body stalled (its headers and a few bytes, then nothing) was
    /// recorded as "no answer" once the timeout ran out, and sent again. The status is what counts.
    /// </summary>
    [Fact]
    public async Task ASuccessWhoseBodyStallsIsDeliveredNotSentAgain()
    {
        var app = await StartAsync(new() { ["Webhooks:TimeoutSeconds"] = "1" });
        var stalled = new TaskCompletionSource();
        _receiver.AnswerPartly(200, "{\"ok\":", length: 100);
        _receiver.HoldNext(stalled.Task);
        var id = await app.SubmitAsync(Scripted(Returns(null), _receiver.Url.ToString()));
        await _receiver.NextAsync();

        var delivery = await DeliveryAfterAsync(app, id, 1);
        stalled.SetResult();

        Assert.Equal("succeeded", delivery.Str("status"));
        var attempt = delivery.GetProperty("attempt_log")[0];
        Assert.Equal(200, attempt.GetProperty("response_status").GetInt32());
        Assert.Equal("{\"ok\":", attempt.Str("response_body"));
        Assert.Single(_receiver.All);
    }

    /// <summary>
    /// Regression: deliveries were taken oldest first alone, so a receiver that was slow to answer
    /// filled every sender with its backlog, and another receiver's webhook waited behind it
    /// (41 s in the walk-through). A receiver now has at most Webhooks:ConcurrencyPerReceiver sends at once.
    /// </summary>
    [Fact]
    public async Task ASlowReceiverTakesAtMostItsShareOfTheSendersAndOthersGoOn()
    {
        await using var fast = await WebhookReceiver.StartAsync();
        var app = await StartAsync(new()
        {
            ["Webhooks:Concurrency"] = "4", ["Webhooks:ConcurrencyPerReceiver"] = "2", ["Webhooks:AllowedPorts:1"] = fast.Port.ToString(),
        });
        var answer = new TaskCompletionSource();
        for (var i = 0; i < 4; i++) _receiver.HoldNext(answer.Task); // the slow receiver answers when the test says
        var slow = new List<Guid>();
        for (var i = 0; i < 4; i++) slow.Add(await app.SubmitAsync(Scripted(Returns(null), _receiver.Url.ToString())));
        await _receiver.NextAsync();
        await _receiver.NextAsync(); // two of its four are being sent

        var other = await app.SubmitAsync(Scripted(Returns(null), fast.Url.ToString()));
        var hook = await fast.NextAsync(TimeSpan.FromSeconds(10));

        Assert.Equal(other, JsonDocument.Parse(hook.Body).RootElement.GetProperty("data").GetProperty("job").Id());
        Assert.Equal(2, _receiver.All.Count); // no more than its share while those two are held
        answer.SetResult();
        foreach (var id in slow) Assert.Equal("succeeded", (await DeliveryAfterAsync(app, id, 1)).Str("status"));
        Assert.Equal(4, _receiver.All.Count);
    }

    [Fact]
    public async Task ALargeResultIsLeftOutAndSaidSo()
    {
        var app = await StartAsync(new() { ["Webhooks:MaxResultBytes"] = "100" });
        await app.SubmitAsync(Scripted(Returns(new { text = new string('x', 500) }), _receiver.Url.ToString()));

        var job = JsonDocument.Parse((await _receiver.NextAsync()).Body).RootElement.GetProperty("data").GetProperty("job");

        Assert.Equal(JsonValueKind.Null, job.GetProperty("result").ValueKind);
        Assert.True(job.GetProperty("result_truncated").GetBoolean());
    }

    [Fact]
    public async Task NoCallbackNoDeliveryAndRetentionWaitsForAJobsWebhookThenTakesItsDeliveriesWithIt()
    {
        var app = await StartAsync();
        var plain = await app.SubmitAsync(new { type = "scripted", payload = new { key = Returns(null) } });
        await app.WaitForStatusAsync(plain, JobStatus.Completed);
        Assert.Empty(await DeliveriesAsync(app, plain));

        _receiver.Answer(500);
        var failing = await app.SubmitAsync(Scripted(Returns(null), _receiver.Url.ToString()));
        await _receiver.NextAsync();
        Assert.Equal("pending", (await DeliveryAfterAsync(app, failing, 1)).Str("status")); // waiting for its retry

        // Retention leaves a finished job whose webhook is still to be sent (regression: it deleted
        // the job and dropped the delivery without a word) ...
        var retention = app.Get<JobTransitions>();
        Assert.Equal(1, await retention.DeleteFinishedAsync(JobStatus.Completed, app.Time.GetUtcNow().UtcDateTime.AddDays(1), 100, default)); // the plain one
        var waiting = await DeliveryAfterAsync(app, failing, 1);
        Assert.Equal("pending", waiting.Str("status"));

        // ... and deletes it, its deliveries with it, once the webhook is done.
        AdvanceTo(app, waiting.GetProperty("next_attempt_at").GetDateTime().ToUniversalTime());
        Assert.Equal("succeeded", (await DeliveryAfterAsync(app, failing, 2)).Str("status"));
        Assert.Equal(1, await retention.DeleteFinishedAsync(JobStatus.Completed, app.Time.GetUtcNow().UtcDateTime.AddDays(1), 100, default));
        Assert.Equal(0, await app.WithDbAsync(db => db.WebhookDeliveries.CountAsync()));
        Assert.Equal(0, await app.WithDbAsync(db => db.WebhookAttempts.CountAsync()));
        Assert.Equal(2, _receiver.All.Count);
    }
}

public sealed class SqliteWebhookTests : WebhookContract
{
    protected override Task<TestDatabase> CreateDatabaseAsync() => Task.FromResult(TestDatabase.Sqlite());
}

public sealed class PostgresWebhookTests : WebhookContract
{
    protected override Task<TestDatabase> CreateDatabaseAsync() => TestDatabase.PostgresOrSkipAsync();
}
