using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using JobService.Data;
using JobService.Tests.Infrastructure;
using JobService.Worker;
using Microsoft.EntityFrameworkCore;

namespace JobService.Tests.Dashboard;

/// <summary>
/// Pausing a job type (the claim leaves it out on every worker; running jobs go on) and the
/// workers table the heartbeat writes, through the API and the hosted workers, on a fake clock.
/// </summary>
public abstract class PauseAndWorkersContract
{
    protected abstract Task<TestDatabase> CreateDatabaseAsync();

    async Task<WorkerApp> StartAsync(Dictionary<string, string?>? settings = null, TestDatabase? database = null, bool ownsDatabase = true)
    {
        var app = new WorkerApp(database ?? await CreateDatabaseAsync(), settings, ownsDatabase: ownsDatabase);
        _ = app.Client; // start the host, and so the workers
        return app;
    }

    /// <summary>After a change, the second read of job_type_pauses began after it: the worker knows.</summary>
    static async Task KnownToWorkerAsync(WorkerApp app)
    {
        var paused = app.Get<PausedTypes>();
        await paused.NextRead.WaitAsync(TimeSpan.FromSeconds(15));
        await paused.NextRead.WaitAsync(TimeSpan.FromSeconds(15));
    }

    /// <summary>Pauses of one type sent at once all answer 200: the second insert of its row (a unique violation, once a 500) becomes an update.</summary>
    [Fact]
    public async Task PausesOfOneTypeSentAtOnceAllSucceed()
    {
        await using var app = await StartAsync();

        for (var round = 0; round < 5; round++)
        {
            var answers = await Task.WhenAll(Enumerable.Range(0, 20).Select(_ => app.Client.PostAsJsonAsync("/job-types/echo/pause", new { })));
            Assert.All(answers, a => Assert.Equal(HttpStatusCode.OK, a.StatusCode));
            var types = await app.Client.GetFromJsonAsync<JsonElement>("/job-types");
            Assert.Equal(["echo"], types.EnumerateArray().Where(t => t.GetProperty("paused").ValueKind != JsonValueKind.Null).Select(t => t.Str("type")));
            Assert.Equal(HttpStatusCode.OK, (await app.Client.PostAsync("/job-types/echo/resume", null)).StatusCode);
        }
    }

    /// <summary>Pauses and resumes of one type sent at once all answer 200 (a pause that read the row a resume then deleted once failed its update).</summary>
    [Fact]
    public async Task PausesAndResumesOfOneTypeSentAtOnceAllSucceed()
    {
        await using var app = await StartAsync();

        var answers = await Task.WhenAll(Enumerable.Range(0, 40).Select(i => i % 2 == 0
            ? app.Client.PostAsJsonAsync("/job-types/echo/pause", new { })
            : app.Client.PostAsync("/job-types/echo/resume", null)));
        Assert.All(answers, a => Assert.Equal(HttpStatusCode.OK, a.StatusCode));
    }

    /// <summary>Pausing a paused type again replaces its pause: the new until is the one kept and shown.</summary>
    [Fact]
    public async Task PausingAPausedTypeAgainReplacesItsUntil()
    {
        await using var app = await StartAsync();
        var until = app.Time.GetUtcNow().AddHours(1);

        Assert.Equal(HttpStatusCode.OK, (await app.Client.PostAsJsonAsync("/job-types/echo/pause", new { })).StatusCode);
        var again = await (await app.Client.PostAsJsonAsync("/job-types/echo/pause", new { until })).ReadJsonAsync();

        Assert.Equal(until.UtcDateTime, again.GetProperty("paused").GetProperty("until").GetDateTime().ToUniversalTime(), TimeSpan.FromMilliseconds(1));
        var shown = (await app.Client.GetFromJsonAsync<JsonElement>("/job-types")).EnumerateArray().Single(t => t.Str("type") == "echo");
        Assert.Equal(until.UtcDateTime, shown.GetProperty("paused").GetProperty("until").GetDateTime().ToUniversalTime(), TimeSpan.FromMilliseconds(1));
    }

    [Fact]
    public async Task APausedTypesJobsStayPendingWhileOthersRunAndRunOnceResumed()
    {
        await using var app = await StartAsync();

        var pause = await app.Client.PostAsJsonAsync("/job-types/echo/pause", new { });
        Assert.Equal(HttpStatusCode.OK, pause.StatusCode);
        var paused = await pause.ReadJsonAsync();
        Assert.Equal("echo", paused.Str("type"));
        Assert.Equal(JsonValueKind.Null, paused.GetProperty("paused").GetProperty("until").ValueKind);
        Assert.Equal("anonymous", paused.GetProperty("paused").Str("paused_by"));
        var types = await app.Client.GetFromJsonAsync<JsonElement>("/job-types");
        Assert.Equal(["echo"], types.EnumerateArray().Where(t => t.GetProperty("paused").ValueKind != JsonValueKind.Null).Select(t => t.Str("type")));
        await KnownToWorkerAsync(app);

        var echo = await app.SubmitAsync(new { type = "echo", payload = new { text = "waits" } });
        var greet = await app.SubmitAsync(new { type = "greet", payload = new { name = "runs" } });
        await app.WaitForStatusAsync(greet, JobStatus.Completed);
        // The claim that took the greet job came after the echo job was due: only the pause kept it back.
        Assert.Equal(JobStatus.Pending, (await app.JobAsync(echo)).Status);

        var resume = await (await app.Client.PostAsync("/job-types/echo/resume", null)).ReadJsonAsync();
        Assert.Equal(JsonValueKind.Null, resume.GetProperty("paused").ValueKind);
        await app.WaitForStatusAsync(echo, JobStatus.Completed);
    }

    [Fact]
    public async Task APauseUntilATimeEndsByItselfWhenTheTimePasses()
    {
        await using var app = await StartAsync();
        var until = app.Time.GetUtcNow().AddMinutes(5);
        var pause = await (await app.Client.PostAsJsonAsync("/job-types/echo/pause", new { until })).ReadJsonAsync();
        Assert.Equal(until.UtcDateTime, pause.GetProperty("paused").GetProperty("until").GetDateTime().ToUniversalTime(), TimeSpan.FromMilliseconds(1));
        await KnownToWorkerAsync(app);
        var echo = await app.SubmitAsync(new { type = "echo", payload = new { text = "later" } });
        var greet = await app.SubmitAsync(new { type = "greet", payload = new { name = "now" } });
        await app.WaitForStatusAsync(greet, JobStatus.Completed);
        Assert.Equal(JobStatus.Pending, (await app.JobAsync(echo)).Status);

        app.AdvanceAndWake(TimeSpan.FromMinutes(5) + TimeSpan.FromSeconds(1));

        await app.WaitForStatusAsync(echo, JobStatus.Completed);
        var types = await app.Client.GetFromJsonAsync<JsonElement>("/job-types");
        Assert.All(types.EnumerateArray(), t => Assert.Equal(JsonValueKind.Null, t.GetProperty("paused").ValueKind)); // over
    }

    [Theory]
    [InlineData("/job-types/nope/pause", HttpStatusCode.NotFound, "Known types")]
    [InlineData("/job-types/nope/resume", HttpStatusCode.NotFound, "Known types")]
    public async Task PausingAnUnknownTypeIsA404ListingTheKnownOnes(string path, HttpStatusCode status, string detail)
    {
        await using var app = await StartAsync();
        var problem = await (await app.Client.PostAsync(path, null)).ShouldBeProblemAsync(status);
        Assert.Contains(detail, problem.Str("detail"));
    }

    [Fact]
    public async Task APauseUntilAPastTimeIsA400()
    {
        await using var app = await StartAsync();
        var problem = await (await app.Client.PostAsJsonAsync("/job-types/echo/pause", new { until = app.Time.GetUtcNow().AddSeconds(-1) }))
            .ShouldBeProblemAsync(HttpStatusCode.BadRequest);
        Assert.True(problem.GetProperty("errors").TryGetProperty("until", out _));
    }

    [Fact]
    public async Task TheWorkersListShowsThisInstanceWithTheJobsItRuns()
    {
        await using var app = await StartAsync();
        var release = new TaskCompletionSource();
        var key = Scripts.Add(async ctx => { await ctx.ReportProgressAsync(40, "Halfway"); await release.Task; return null; });
        var id = await app.SubmitAsync(Scripts.Job(key));
        await app.WaitForAsync(id, j => j.Progress == 40, "at 40 %");

        var list = await app.Client.GetFromJsonAsync<JsonElement>("/workers");

        var me = Assert.Single(list.GetProperty("items").EnumerateArray());
        Assert.Equal(app.Get<JobWorker>().WorkerId, me.Str("id"));
        Assert.Equal(Environment.MachineName, me.Str("host"));
        Assert.Equal("all", me.Str("role"));
        Assert.Equal("active", me.Str("state"));
        Assert.Equal(4, me.GetProperty("slots").GetInt32());
        Assert.Equal(2, me.GetProperty("heartbeat_seconds").GetInt32());
        var job = Assert.Single(me.GetProperty("jobs").EnumerateArray());
        Assert.Equal(id, job.Id());
        Assert.Equal(40, job.GetProperty("progress").GetInt32());
        Assert.Equal("Halfway", job.Str("message"));
        release.SetResult();
    }

    [Fact]
    public async Task AWorkerThatMissedTwoBeatsIsLostAndOneUnseenForADayIsForgotten()
    {
        await using var app = await StartAsync();
        var now = app.Time.GetUtcNow().UtcDateTime;
        await using (var db = app.Database.CreateContext())
        {
            db.Workers.AddRange(
                Instance("quiet", lastSeen: now.AddSeconds(-5)),  // two beats of 2 s missed
                Instance("late", lastSeen: now.AddSeconds(-3)),   // one missed: not yet
                Instance("gone", lastSeen: now.AddHours(-25)));
            await db.SaveChangesAsync();
        }

        var states = (await app.Client.GetFromJsonAsync<JsonElement>("/workers")).GetProperty("items").EnumerateArray()
            .ToDictionary(w => w.Str("id"), w => w.Str("state"));
        Assert.Equal("lost", states["quiet"]);
        Assert.Equal("active", states["late"]);

        app.Time.Advance(TimeSpan.FromSeconds(2)); // a heartbeat of this instance
        await Poll.UntilAsync(async () => !await RowExistsAsync(app, "gone"), "the day-old row is deleted", TimeSpan.FromSeconds(15));
        Assert.True(await RowExistsAsync(app, "quiet")); // lost, but kept a day for the page to show
    }

    [Fact]
    public async Task AStoppingWorkerIsDrainingThenLeavesTheTable()
    {
        var app = await StartAsync(new() { ["Worker:ShutdownGraceSeconds"] = "60" });
        await using var _ = app;
        var release = new TaskCompletionSource();
        var key = Scripts.Add(async _ => { await release.Task; return null; });
        var id = await app.SubmitAsync(Scripts.Job(key));
        await app.WaitForRunningHereAsync(id);
        var worker = app.Get<JobWorker>().WorkerId;

        var stopping = app.StopAsync();
        await Poll.UntilAsync(async () => await StateAsync(app, worker) == WorkerHeartbeats.Draining, "draining while its job finishes", TimeSpan.FromSeconds(15));
        release.SetResult();
        await stopping;

        Assert.False(await RowExistsAsync(app, worker));
    }

    static WorkerInstance Instance(string id, DateTime lastSeen) => new()
    {
        Id = id, Host = "elsewhere", Version = "1", Role = "worker", State = WorkerHeartbeats.Active, StartedAt = lastSeen.AddHours(-1),
        LastSeenAt = lastSeen, HeartbeatSeconds = 2, Slots = 10, Busy = 0,
    };

    static async Task<bool> RowExistsAsync(WorkerApp app, string id)
    {
        await using var db = app.Database.CreateContext();
        return await db.Workers.AnyAsync(w => w.Id == id);
    }

    static async Task<string?> StateAsync(WorkerApp app, string id)
    {
        await using var db = app.Database.CreateContext();
        return await db.Workers.Where(w => w.Id == id).Select(w => w.State).FirstOrDefaultAsync();
    }

}

public sealed class SqlitePauseAndWorkersTests : PauseAndWorkersContract
{
    protected override Task<TestDatabase> CreateDatabaseAsync() => Task.FromResult(TestDatabase.Sqlite());
}

public sealed class PostgresPauseAndWorkersTests : PauseAndWorkersContract
{
    protected override async Task<TestDatabase> CreateDatabaseAsync() =>
        await PostgresApp.PostgresOrSkipAsync(reason => Assert.Skip(reason)) ?? throw new InvalidOperationException("no database");

    /// <summary>A pause made through one instance reaches another's claim through NOTIFY, not its fallback poll.</summary>
    [Fact]
    public async Task APauseReachesAnotherInstanceThroughItsNotification()
    {
        var database = await CreateDatabaseAsync();
        var slowPoll = new Dictionary<string, string?> { ["Worker:PollIntervalMs"] = "600000" };
        await using var first = new WorkerApp(database, slowPoll, ownsDatabase: false);
        await using var second = new WorkerApp(database, slowPoll);
        _ = first.Client;
        _ = second.Client;
        var notifier = second.Get<Transitions.IJobDriver>().Notifier;
        await notifier.Listening.WaitAsync(TimeSpan.FromSeconds(15));
        var heard = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        notifier.Received += notice => { if (notice is Transitions.Notice.PausesChanged) heard.TrySetResult(); };

        Assert.Equal(HttpStatusCode.OK, (await first.Client.PostAsJsonAsync("/job-types/echo/pause", new { })).StatusCode);
        await heard.Task.WaitAsync(TimeSpan.FromSeconds(15)); // the first instance's NOTIFY reached the second
        await second.KnowsPausedAsync("echo"); // its fallback poll is ten minutes away: the read that the notice started finds the pause
    }
}
