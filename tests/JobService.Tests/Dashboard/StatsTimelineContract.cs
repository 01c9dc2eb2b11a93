using System.Net;
using System.Text.Json;
using JobService.Data;
using JobService.Tests.Infrastructure;

namespace JobService.Tests.Dashboard;

/// <summary>
/// GET /jobs/stats?window=…&amp;bucket=…: jobs placed at known times (on the fake clock, written
/// straight to the table) land in the right buckets, with the right counts, sums and
/// nearest-rank percentiles, computed by SQL on each provider.
/// </summary>
public abstract class StatsTimelineContract(ClockedApp app) : ClockedContract(app)
{
    // The fake clock reads 10:30:30: a 5-minute window in 1-minute buckets is 10:26 … 10:30.
    protected static DateTime At(int minute, double seconds) => new DateTime(2026, 12, 1, 10, minute, 0, DateTimeKind.Utc).AddSeconds(seconds);

    protected static Job Row(string type, JobStatus status, DateTime created, DateTime? started = null, DateTime? completed = null, DateTime? runAt = null,
        int? tokens = null, double? cost = null, string tenant = "default") => new()
    {
        Id = Guid.CreateVersion7(), TenantId = tenant, Type = type, Status = status, Payload = "{}", CreatedAt = created, UpdatedAt = created,
        RunAt = runAt ?? created, StartedAt = started, CompletedAt = completed, Attempt = started is null ? 0 : 1, MaxAttempts = 3,
        TotalTokens = tokens, PromptTokens = tokens, CompletionTokens = tokens is null ? null : 0, CostUsd = cost,
    };

    protected async Task<JsonElement> TimelineAsync(string query)
    {
        var response = await App.CreateClient().GetAsync($"/jobs/stats?{query}");
        Assert.True(response.StatusCode == HttpStatusCode.OK, await response.Content.ReadAsStringAsync());
        return (await response.ReadJsonAsync()).GetProperty("timeline");
    }

    [Fact]
    public async Task JobsLandInTheBucketsOfTheirTimesWithCountsSumsAndPercentiles()
    {
        var rows = new List<Job>();
        for (var i = 1; i <= 10; i++)
        {
            // Queue waits 100 … 1,000 ms, run times 1 … 10 s: p50 and p95 are the 5th and the 10th.
            var started = At(28, 10).AddMilliseconds(100 * i);
            rows.Add(Row("echo", JobStatus.Completed, At(28, 10), started, started.AddSeconds(i), tokens: 10, cost: 0.01));
        }
        rows.Add(Row("greet", JobStatus.Failed, At(29, 5), At(29, 6), At(29, 7)));
        rows.Add(Row("greet", JobStatus.Failed, At(29, 5), At(29, 6), At(29, 7)));
        rows.Add(Row("greet", JobStatus.Pending, At(27, 30)));                                 // waiting since 10:27:30
        rows.Add(Row("greet", JobStatus.Pending, At(30, 10), runAt: At(59, 0)));              // scheduled: not waiting yet
        rows.Add(Row("scripted", JobStatus.Cancelled, At(30, 0), completed: At(30, 1)));
        rows.Add(Row("echo", JobStatus.Completed, At(20, 0), At(20, 1), At(20, 30)));         // before the window
        rows.Add(Row("echo", JobStatus.Completed, At(28, 0), At(28, 1), At(28, 2), tenant: "other")); // another tenant's
        await App.WithDbAsync(async db => { db.Jobs.AddRange(rows); return await db.SaveChangesAsync(); });

        var t = await TimelineAsync("window=5m&bucket=1m");

        Assert.Equal("2026-12-01T10:26:00Z", t.Str("from"));
        Assert.Equal("2026-12-01T10:31:00Z", t.Str("to"));
        var b = t.GetProperty("buckets").EnumerateArray().ToList();
        Assert.Equal(["2026-12-01T10:26:00Z", "2026-12-01T10:27:00Z", "2026-12-01T10:28:00Z", "2026-12-01T10:29:00Z", "2026-12-01T10:30:00Z"], b.Select(x => x.Str("start")));
        Assert.Equal([0, 1, 10, 2, 2], b.Select(x => x.GetProperty("created").GetInt32()));
        Assert.Equal([0, 0, 10, 0, 0], b.Select(x => x.GetProperty("completed").GetInt32()));
        Assert.Equal([0, 0, 0, 2, 0], b.Select(x => x.GetProperty("failed").GetInt32()));
        Assert.Equal([0, 0, 0, 0, 1], b.Select(x => x.GetProperty("cancelled").GetInt32()));
        Assert.Equal(500, b[2].GetProperty("queue_wait_ms").GetProperty("p50").GetDouble(), 0.5);
        Assert.Equal(1000, b[2].GetProperty("queue_wait_ms").GetProperty("p95").GetDouble(), 0.5);
        Assert.Equal(5000, b[2].GetProperty("run_ms").GetProperty("p50").GetDouble(), 0.5);
        Assert.Equal(10000, b[2].GetProperty("run_ms").GetProperty("p95").GetDouble(), 0.5);
        Assert.Equal(1000, b[3].GetProperty("run_ms").GetProperty("p50").GetDouble(), 0.5);
        Assert.Equal(JsonValueKind.Null, b[0].GetProperty("run_ms").GetProperty("p50").ValueKind);
        Assert.Equal(100, b[2].GetProperty("total_tokens").GetInt64());
        Assert.Equal(0.1, b[2].GetProperty("cost_usd").GetDouble(), 6);

        var echo = t.GetProperty("by_type").GetProperty("echo");
        Assert.Equal([0, 0, 10, 0, 0], echo.GetProperty("completed_per_bucket").EnumerateArray().Select(x => x.GetInt32()));
        Assert.Equal(5500, echo.GetProperty("mean_run_ms").GetDouble(), 0.5);
        Assert.Equal(0, echo.GetProperty("error_rate").GetDouble());
        Assert.Equal(JsonValueKind.Null, echo.GetProperty("oldest_pending_seconds").ValueKind);
        var greet = t.GetProperty("by_type").GetProperty("greet");
        Assert.Equal(4, greet.GetProperty("created").GetInt32());
        Assert.Equal(1.0, greet.GetProperty("error_rate").GetDouble());
        Assert.Equal(180, greet.GetProperty("oldest_pending_seconds").GetDouble(), 0.5);
        Assert.Equal(1, t.GetProperty("by_type").GetProperty("scripted").GetProperty("cancelled").GetInt32());
    }

    /// <summary>
    /// The queue waits are of the jobs started in the bucket, finished or still running (started_at
    /// has no index: the two are read apart). A job back in the queue for a retry is left out until
    /// it is claimed again, and one cancelled meanwhile for good: its run_at is the retry's, and the
    /// wait it had is no longer known.
    /// </summary>
    [Fact]
    public async Task QueueWaitsAreOfFinishedAndRunningJobsNotOfThoseWaitingForARetry()
    {
        await App.WithDbAsync(async db =>
        {
            db.Jobs.Add(Row("echo", JobStatus.Completed, At(28, 0), At(28, 1), At(28, 5)));  // waited 1 s
            db.Jobs.Add(Row("echo", JobStatus.Running, At(28, 0), At(28, 2)));               // 2 s
            db.Jobs.Add(Row("echo", JobStatus.Failed, At(28, 0), At(28, 3), At(28, 9)));     // 3 s
            db.Jobs.Add(Row("echo", JobStatus.Pending, At(28, 0), At(28, 4), runAt: At(31, 0))); // failed, its retry due at 10:31
            db.Jobs.Add(Row("echo", JobStatus.Cancelled, At(28, 0), At(28, 5), At(28, 20), runAt: At(31, 0))); // cancelled while it waited for its retry
            db.Jobs.Add(Row("echo", JobStatus.Running, At(20, 0), At(20, 9)));               // started before the window
            return await db.SaveChangesAsync();
        });

        var wait = (await TimelineAsync("window=5m&bucket=1m")).GetProperty("buckets")[2].GetProperty("queue_wait_ms");

        // Nearest rank over 1, 2 and 3 s: p50 is the 2nd. Without the running job it would be 1 s,
        // and with either retry's negative "wait" (started_at - run_at) it would be 1 s too.
        Assert.Equal(2000, wait.GetProperty("p50").GetDouble(), 0.5);
        Assert.Equal(3000, wait.GetProperty("p95").GetDouble(), 0.5);
    }

    [Fact]
    public async Task AnHourlyBucketOverADayHoldsTheSameJobs()
    {
        await App.WithDbAsync(async db =>
        {
            db.Jobs.Add(Row("echo", JobStatus.Completed, At(28, 0), At(28, 1), At(28, 3)));
            db.Jobs.Add(Row("echo", JobStatus.Completed, At(0, 0).AddHours(-3), At(0, 1).AddHours(-3), At(0, 2).AddHours(-3)));
            return await db.SaveChangesAsync();
        });

        var b = (await TimelineAsync("window=24h&bucket=1h")).GetProperty("buckets").EnumerateArray().ToList();

        Assert.Equal(24, b.Count);
        Assert.Equal("2026-12-01T10:00:00Z", b[^1].Str("start"));
        Assert.Equal(1, b[^1].GetProperty("completed").GetInt32());
        Assert.Equal(1, b[^4].GetProperty("completed").GetInt32()); // 07:00
        Assert.Equal(2, b.Sum(x => x.GetProperty("created").GetInt32()));
    }

    [Theory]
    [InlineData("window=1h", "bucket")]
    [InlineData("bucket=1m", "window")]
    [InlineData("window=1h&bucket=1x", "bucket")]
    [InlineData("window=1h&bucket=1s", "bucket")]
    [InlineData("window=1x&bucket=1m", "window")]
    [InlineData("window=60d&bucket=1h", "window")]
    [InlineData("window=0h&bucket=1m", "window")]
    [InlineData("window=2d&bucket=1m", "bucket")]
    [InlineData("window=1m&bucket=1h", "window")]
    public async Task AWindowOrBucketOutOfRangeIsA400NamingTheOneToChange(string query, string field)
    {
        var problem = await (await App.CreateClient().GetAsync($"/jobs/stats?{query}")).ShouldBeProblemAsync(HttpStatusCode.BadRequest);
        var (name, _) = Assert.Single(problem.GetProperty("errors").EnumerateObject().Select(e => (e.Name, e.Value)));
        Assert.Equal(field, name);
    }

    [Fact]
    public async Task WithoutAWindowTheStatsHaveNoTimeline()
    {
        var stats = await (await App.CreateClient().GetAsync("/jobs/stats")).ReadJsonAsync();
        Assert.Equal(JsonValueKind.Null, stats.GetProperty("timeline").ValueKind);
    }
}

public sealed class SqliteStatsTimelineTests(SqliteClockedApp app) : StatsTimelineContract(app), IClassFixture<SqliteClockedApp>;

public sealed class PostgresStatsTimelineTests(PostgresClockedApp app) : StatsTimelineContract(app), IClassFixture<PostgresClockedApp>
{
    /// <summary>
    /// A job stored before submissions refused a run_at at the start of time (DateTime.MinValue,
    /// which PostgreSQL holds as -infinity): its wait is left out of the percentiles, and the
    /// timeline still answers (it failed, for as long as the job stayed in the window).
    /// </summary>
    [Fact]
    public async Task AJobWaitingSinceTheStartOfTimeIsLeftOutOfTheWaits()
    {
        var started = At(28, 10);
        await App.WithDbAsync(async db =>
        {
            db.Jobs.AddRange(Row("echo", JobStatus.Completed, At(28, 0), started, started.AddSeconds(1), runAt: DateTime.MinValue),
                Row("echo", JobStatus.Completed, At(28, 0), started, started.AddSeconds(1), runAt: started.AddMilliseconds(-300)));
            return await db.SaveChangesAsync();
        });

        var bucket = (await TimelineAsync("window=5m&bucket=1m")).GetProperty("buckets")[2];

        Assert.Equal(300, bucket.GetProperty("queue_wait_ms").GetProperty("p50").GetDouble(), 0.5);
        Assert.Equal(300, bucket.GetProperty("queue_wait_ms").GetProperty("p95").GetDouble(), 0.5);
        Assert.Equal(1000, bucket.GetProperty("run_ms").GetProperty("p50").GetDouble(), 0.5);
    }
}
