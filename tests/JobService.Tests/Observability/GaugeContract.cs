using JobService.Data;
using JobService.Tests.Infrastructure;
using Microsoft.EntityFrameworkCore;

namespace JobService.Tests.Observability;

/// <summary>
/// jobservice_jobs and jobservice_oldest_pending_age_seconds against the rows themselves, on both
/// providers: jobs of several types and statuses, due and scheduled, written straight into the
/// table on a fake clock, then scraped. No worker runs, so nothing moves under the test.
/// </summary>
public abstract class GaugeContract
{
    protected abstract Task<TestDatabase> CreateDatabaseAsync();

    async Task<WorkerApp> StartAsync(int cacheSeconds)
    {
        var app = new WorkerApp(await CreateDatabaseAsync(), new()
        {
            ["Service:Role"] = "api", ["Metrics:GaugeCacheSeconds"] = cacheSeconds.ToString(),
        });
        _ = app.Client;
        return app;
    }

    static Job Row(string type, JobStatus status, DateTime created, DateTime? runAt = null) => new()
    {
        Id = Guid.CreateVersion7(), Type = type, Status = status, Payload = "{}", MaxAttempts = 3,
        CreatedAt = created, UpdatedAt = created, RunAt = runAt ?? created,
    };

    [Fact]
    public async Task JobCountsAndTheOldestPendingAgeAgreeWithTheDatabase()
    {
        await using var app = await StartAsync(cacheSeconds: 0);
        var t = app.Time.GetUtcNow().UtcDateTime;
        await using (var db = app.Database.CreateContext())
        {
            db.Jobs.AddRange(
                Row("echo", JobStatus.Pending, t.AddSeconds(-300)),                        // waiting 300 s: the oldest echo
                Row("echo", JobStatus.Pending, t.AddSeconds(-400), t.AddSeconds(-50)),     // scheduled, due 50 s ago
                Row("echo", JobStatus.Pending, t.AddSeconds(-900), t.AddHours(1)),         // scheduled for later: not waiting
                Row("echo", JobStatus.Running, t.AddSeconds(-30)), Row("echo", JobStatus.Running, t.AddSeconds(-20)),
                Row("echo", JobStatus.Completed, t.AddSeconds(-9)), Row("echo", JobStatus.Completed, t.AddSeconds(-8)),
                Row("echo", JobStatus.Completed, t.AddSeconds(-7)), Row("echo", JobStatus.Failed, t.AddSeconds(-6)),
                Row("greet", JobStatus.Pending, t.AddSeconds(-20), t.AddHours(-1)),        // run_at in the past when submitted: waits since created
                Row("greet", JobStatus.Cancelled, t.AddSeconds(-5)),
                Row("scripted", JobStatus.Completed, t.AddSeconds(-4)));
            await db.SaveChangesAsync();
        }
        app.Time.Advance(TimeSpan.FromSeconds(7));
        var now = app.Time.GetUtcNow().UtcDateTime;

        var scrape = await ScrapeAsync(app);

        await using var check = app.Database.CreateContext();
        var rows = await check.Jobs.AsNoTracking().ToListAsync();
        foreach (var type in new[] { "echo", "greet", "scripted", "text_generation" })
        {
            foreach (var status in Enum.GetValues<JobStatus>())
                Assert.Equal(rows.Count(r => r.Type == type && r.Status == status),
                    scrape.Sum("jobservice_jobs", ("type", type), ("status", status.ToName())));
            var waiting = rows.Where(r => r.Type == type && r.Status == JobStatus.Pending && r.RunAt <= now)
                .Select(r => r.RunAt > r.CreatedAt ? r.RunAt : r.CreatedAt).ToList();
            var expected = waiting.Count == 0 ? 0 : (now - waiting.Min()).TotalSeconds;
            Assert.Equal(expected, scrape.Sum("jobservice_oldest_pending_age_seconds", ("type", type)), 3);
        }
        Assert.Equal(307, scrape.Sum("jobservice_oldest_pending_age_seconds", ("type", "echo")), 3);
        Assert.Equal(27, scrape.Sum("jobservice_oldest_pending_age_seconds", ("type", "greet")), 3);
        Assert.Equal(0, scrape.Sum("jobservice_oldest_pending_age_seconds", ("type", "scripted")));
    }

    /// <summary>Regression: nothing told how many webhooks waited to be sent, or for how long (a receiver down piled them up unseen).</summary>
    [Fact]
    public async Task TheWebhookBacklogAndItsOldestDueAgeAgreeWithTheDatabase()
    {
        await using var app = await StartAsync(cacheSeconds: 0);
        var t = app.Time.GetUtcNow().UtcDateTime;
        var job = Row("echo", JobStatus.Completed, t.AddSeconds(-600));
        WebhookDelivery Delivery(string status, DateTime? next, string? sender = null) => new()
        {
            LockedBy = sender,
            Id = Guid.CreateVersion7(), JobId = job.Id, TenantId = job.TenantId, EventType = "job.completed", Url = "https://example.com/hook",
            Receiver = "https://example.com:443", Body = "{}", Status = status, NextAttemptAt = next, CreatedAt = t, UpdatedAt = t,
        };
        await using (var db = app.Database.CreateContext())
        {
            db.Jobs.Add(job);
            db.WebhookDeliveries.AddRange(
                Delivery("pending", t.AddSeconds(-40)), Delivery("pending", t.AddSeconds(-5)), // due: the oldest for 40 s
                Delivery("pending", t.AddMinutes(5)),                                          // a retry scheduled later
                Delivery("pending", t.AddSeconds(30), sender: "worker-1"),                      // being sent: its lease ends in 30 s
                Delivery("succeeded", null), Delivery("failed", null));
            await db.SaveChangesAsync();
        }

        var scrape = await ScrapeAsync(app);

        Assert.Equal(2, scrape.Sum("jobservice_webhook_backlog", ("state", "due")));
        Assert.Equal(1, scrape.Sum("jobservice_webhook_backlog", ("state", "waiting")));
        Assert.Equal(1, scrape.Sum("jobservice_webhook_backlog", ("state", "sending")));
        Assert.Equal(40, scrape.Sum("jobservice_webhook_oldest_due_age_seconds"), 3);
    }

    [Fact]
    public async Task TheCountsAreReadAtMostOncePerCacheInterval()
    {
        await using var app = await StartAsync(cacheSeconds: 3600);
        var first = await ScrapeAsync(app);
        await app.SubmitAsync(new { type = "echo", payload = new { text = "a" } });

        var cached = await ScrapeAsync(app);

        Assert.Equal(0, first.Sum("jobservice_jobs", ("type", "echo")));
        Assert.Equal(0, cached.Sum("jobservice_jobs", ("type", "echo"))); // the job exists, the hour has not passed
        Assert.Equal(1, cached.Sum("jobservice_jobs_created_total", ("type", "echo"))); // counters are live
    }

    static async Task<PrometheusText> ScrapeAsync(WorkerApp app)
    {
        var response = await app.Client.GetAsync("/metrics");
        response.EnsureSuccessStatusCode();
        return PrometheusText.Parse(await response.Content.ReadAsStringAsync());
    }
}

public sealed class SqliteGaugeTests : GaugeContract
{
    protected override Task<TestDatabase> CreateDatabaseAsync() => Task.FromResult(TestDatabase.Sqlite());
}

public sealed class PostgresGaugeTests : GaugeContract
{
    protected override async Task<TestDatabase> CreateDatabaseAsync()
    {
        var server = TestDatabase.PostgresServer(out var reason);
        if (server is null) Assert.Skip(reason);
        return await TestDatabase.PostgresAsync(server);
    }
}
