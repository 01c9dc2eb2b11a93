using JobService.Data;
using JobService.Tests.Infrastructure;
using JobService.Worker;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Time.Testing;

namespace JobService.Tests.Worker;

/// <summary>
/// The queue's guarantees at the SQL seam, one suite for both providers (River's driver
/// tests, in miniature): claims, order, quotas, rescue, fencing and concurrent claimers.
/// </summary>
public abstract class QueueContract(TestApp app) : IAsyncLifetime
{
    static readonly string[] Both = ["greet", "echo"];
    readonly FakeTimeProvider _time = new(new DateTimeOffset(2026, 11, 23, 12, 0, 0, TimeSpan.Zero));

    TestApp App => app.EnsureAvailable();
    IDbContextFactory<JobsDbContext> Contexts => App.Services.GetRequiredService<IDbContextFactory<JobsDbContext>>();
    IQueueDriver Driver => App.Database.Provider == "postgres" ? new PostgresQueueDriver(Contexts) : new SqliteQueueDriver(Contexts);
    JobStore Store => new(Contexts, _time);
    DateTime Now => _time.GetUtcNow().UtcDateTime;

    ClaimRequest Claim(string worker, int limit, params TypeQuota[] quotas) =>
        new(worker, limit, quotas.Length > 0 ? quotas : [new TypeQuota(Both, limit)], Now, Now.AddSeconds(30));

    async Task<List<Guid>> InsertAsync(int count, string type = "echo", int priority = 0, TimeSpan? delay = null, int maxAttempts = 3)
    {
        var jobs = Enumerable.Range(0, count).Select(_ => new Job
        {
            Id = Guid.CreateVersion7(), Type = type, Payload = "{}", Priority = priority, MaxAttempts = maxAttempts,
            RunAt = Now + (delay ?? TimeSpan.Zero), CreatedAt = Now, UpdatedAt = Now,
        }).ToList();
        await using var db = await Contexts.CreateDbContextAsync();
        db.Jobs.AddRange(jobs);
        await db.SaveChangesAsync();
        return jobs.Select(j => j.Id).ToList();
    }

    async Task<Job> LoadAsync(Guid id)
    {
        await using var db = await Contexts.CreateDbContextAsync();
        return await db.Jobs.AsNoTracking().SingleAsync(j => j.Id == id);
    }

    [Fact]
    public async Task AClaimTakesNoMoreThanItsLimitAndLeasesWhatItTakes()
    {
        await InsertAsync(10);

        var claimed = await Driver.ClaimAsync(Claim("w1", 3), default);

        Assert.Equal(3, claimed.Count);
        Assert.All(claimed, j => Assert.Equal(1, j.Attempt));
        var job = await LoadAsync(claimed[0].Id);
        Assert.Equal(JobStatus.Running, job.Status);
        Assert.Equal("w1", job.LockedBy);
        Assert.Equal(Now.AddSeconds(30), job.LockedUntil);
        Assert.Equal(Now, job.StartedAt);
        await using var db = await Contexts.CreateDbContextAsync();
        Assert.Equal(7, await db.Jobs.CountAsync(j => j.Status == JobStatus.Pending));
    }

    [Fact]
    public async Task FutureJobsWaitUntilTheirRunAt()
    {
        var id = (await InsertAsync(1, delay: TimeSpan.FromMinutes(10)))[0];

        Assert.Empty(await Driver.ClaimAsync(Claim("w1", 5), default));
        _time.Advance(TimeSpan.FromMinutes(10));
        Assert.Equal([id], (await Driver.ClaimAsync(Claim("w1", 5), default)).Select(j => j.Id));
    }

    [Fact]
    public async Task ClaimsFollowPriorityThenRunAtThenId()
    {
        var low = await InsertAsync(1, priority: -1);
        var first = await InsertAsync(2, priority: 5);
        var top = await InsertAsync(1, priority: 10);
        var none = await InsertAsync(1, priority: 0);

        var order = new List<Guid>();
        for (var i = 0; i < 5; i++) order.AddRange((await Driver.ClaimAsync(Claim("w1", 1), default)).Select(j => j.Id));

        // Equal priority and run_at: the id decides (ids made in one millisecond are not in creation order).
        Assert.Equal([.. top, .. first.OrderBy(g => g.ToString()), .. none, .. low], order);
    }

    [Fact]
    public async Task PerTypeQuotasHoldWithinOneClaim()
    {
        await InsertAsync(5, "greet", priority: 9);
        await InsertAsync(5, "echo");

        var claimed = await Driver.ClaimAsync(Claim("w1", 10, new TypeQuota(["echo"], 10), new TypeQuota(["greet"], 2)), default);

        Assert.Equal(2, claimed.Count(j => j.Type == "greet"));
        Assert.Equal(5, claimed.Count(j => j.Type == "echo"));
    }

    [Fact]
    public async Task TheOverallLimitCapsTheQuotasTogetherInQueueOrder()
    {
        var greet = await InsertAsync(3, "greet", priority: 9);
        await InsertAsync(3, "echo");

        var claimed = await Driver.ClaimAsync(Claim("w1", 4, new TypeQuota(["echo"], 4), new TypeQuota(["greet"], 4)), default);

        Assert.Equal(4, claimed.Count);
        Assert.Equal(greet.Order(), claimed.Where(j => j.Type == "greet").Select(j => j.Id).Order());
    }

    [Fact]
    public async Task AnExpiredLeaseIsRescuedToPendingWithBackoffAndALogLine()
    {
        var id = (await InsertAsync(1))[0];
        await Driver.ClaimAsync(Claim("crashed", 1), default);

        _time.Advance(TimeSpan.FromSeconds(29));
        Assert.Equal(0, await Store.RescueExpiredAsync(new RetryBackoff(2, 60), default));
        _time.Advance(TimeSpan.FromSeconds(2));
        Assert.Equal(1, await Store.RescueExpiredAsync(new RetryBackoff(2, 60), default));

        var job = await LoadAsync(id);
        Assert.Equal(JobStatus.Pending, job.Status);
        Assert.Null(job.LockedBy);
        Assert.InRange(job.RunAt, Now.AddSeconds(1.5), Now.AddSeconds(2.5));
        Assert.Contains("crashed", job.Error);
        await using var db = await Contexts.CreateDbContextAsync();
        var log = await db.JobLogs.SingleAsync(l => l.JobId == id);
        Assert.Equal("warning", log.Level);
        Assert.Contains("lease", log.Message);
    }

    [Fact]
    public async Task AnExpiredLeaseOnTheLastAttemptFailsTheJob()
    {
        var id = (await InsertAsync(1, maxAttempts: 1))[0];
        await Driver.ClaimAsync(Claim("crashed", 1), default);
        _time.Advance(TimeSpan.FromMinutes(1));

        Assert.Equal(1, await Store.RescueExpiredAsync(new RetryBackoff(2, 60), default));

        var job = await LoadAsync(id);
        Assert.Equal(JobStatus.Failed, job.Status);
        Assert.NotNull(job.CompletedAt);
        Assert.Contains("expired", job.Error);
    }

    [Fact]
    public async Task AJobCancelledWhileItsWorkerWasDeadEndsCancelledNotRunAgain()
    {
        var id = (await InsertAsync(1))[0];
        await Driver.ClaimAsync(Claim("crashed", 1), default);
        await using (var db = await Contexts.CreateDbContextAsync())
            await db.Jobs.Where(j => j.Id == id).ExecuteUpdateAsync(u => u.SetProperty(j => j.CancelRequested, true));
        _time.Advance(TimeSpan.FromMinutes(1));

        Assert.Equal(1, await Store.RescueExpiredAsync(new RetryBackoff(2, 60), default));

        var job = await LoadAsync(id);
        Assert.Equal(JobStatus.Cancelled, job.Status);
        Assert.NotNull(job.CompletedAt);
        Assert.Empty(await Driver.ClaimAsync(Claim("w2", 5), default));
    }

    [Fact]
    public async Task AWorkerThatLostItsLeaseChangesNothing()
    {
        var id = (await InsertAsync(1))[0];
        var stale = (await Driver.ClaimAsync(Claim("old", 1), default))[0].Lease("old");
        _time.Advance(TimeSpan.FromMinutes(1));
        await Store.RescueExpiredAsync(new RetryBackoff(0.001, 0.001), default);
        _time.Advance(TimeSpan.FromSeconds(1));
        var current = (await Driver.ClaimAsync(Claim("new", 1), default))[0].Lease("new");
        Assert.Equal(2, current.Attempt);
        var before = await LoadAsync(id);

        Assert.False(await Store.UpdateProgressAsync(stale, 80, "stale", default));
        Assert.False(await Store.AppendLogAsync(stale, "info", "stale", default));
        Assert.False(await Store.FinishAsync(stale, JobStatus.Failed, "stale", "stale", 80, null, new("error", "stale"), default));
        Assert.False(await Store.RetryLaterAsync(stale, TimeSpan.Zero, "stale", "stale", null, new("warning", "stale"), default));
        Assert.False(await Store.HandBackAsync(stale, null, default));
        Assert.Empty(await Driver.CompleteAsync([new Completion(stale, "\"stale\"", null)], Now, default));
        Assert.Empty(await Store.RenewLeasesAsync("old", [id], Now.AddHours(1), default));

        var after = await LoadAsync(id);
        Assert.Equal(JobStatus.Running, after.Status);
        Assert.Equal("new", after.LockedBy);
        Assert.Equal(before.LockedUntil, after.LockedUntil);
        Assert.Equal(before.Progress, after.Progress);
        Assert.Null(after.Result);
        await using var db = await Contexts.CreateDbContextAsync();
        Assert.DoesNotContain(await db.JobLogs.Where(l => l.JobId == id).Select(l => l.Message).ToListAsync(), m => m == "stale");

        Assert.True(await Store.UpdateProgressAsync(current, 40, "fresh", default));
        Assert.Equal([id], await Driver.CompleteAsync([new Completion(current, "{\"ok\":true}", new JobUsage(3, 4, 0.5))], Now, default));
        var done = await LoadAsync(id);
        Assert.Equal(JobStatus.Completed, done.Status);
        Assert.Equal(100, done.Progress);
        JsonAssert.Equal("{\"ok\":true}", done.Result);
        Assert.Equal(7, done.TotalTokens);
        Assert.Equal(0.5, done.CostUsd);
    }

    [Fact]
    public async Task ABatchCompletionWritesOnlyTheRowsStillHeld()
    {
        await InsertAsync(3);
        var claimed = (await Driver.ClaimAsync(Claim("w1", 3), default)).Select(j => j.Lease("w1")).ToList();
        var wrong = claimed[2] with { Attempt = 7 };

        var written = await Driver.CompleteAsync([new Completion(claimed[0], "1", null), new Completion(claimed[1], null, null), new Completion(wrong, "3", null)], Now, default);

        Assert.Equal(new[] { claimed[0].JobId, claimed[1].JobId }.Order(), written.Order());
        Assert.Equal(JobStatus.Running, (await LoadAsync(claimed[2].JobId)).Status);
        Assert.Null((await LoadAsync(claimed[1].JobId)).Result);
    }

    [Fact]
    public async Task RenewingExtendsOnlyThisWorkersLeasesAndReportsCancelFlags()
    {
        await InsertAsync(2);
        var mine = await Driver.ClaimAsync(Claim("w1", 1), default);
        var theirs = await Driver.ClaimAsync(Claim("w2", 1), default);
        await using (var db = await Contexts.CreateDbContextAsync())
            await db.Jobs.Where(j => j.Id == mine[0].Id).ExecuteUpdateAsync(u => u.SetProperty(j => j.CancelRequested, true));

        var held = await Store.RenewLeasesAsync("w1", [mine[0].Id, theirs[0].Id], Now.AddMinutes(5), default);

        Assert.Equal([new HeldJob(mine[0].Id, 1, true)], held);
        Assert.Equal(Now.AddMinutes(5), (await LoadAsync(mine[0].Id)).LockedUntil);
        Assert.Equal(Now.AddSeconds(30), (await LoadAsync(theirs[0].Id)).LockedUntil);
    }

    [Fact]
    public async Task RenewingLeavesAJobTheWorkerDoesNotKnowItHoldsToExpire()
    {
        await InsertAsync(2);
        var claimed = await Driver.ClaimAsync(Claim("w1", 2), default);
        var known = claimed[0].Id;
        var orphan = claimed[1].Id; // as if the claim's answer had been lost on the way back

        await Store.RenewLeasesAsync("w1", [known], Now.AddMinutes(5), default);

        Assert.Equal(Now.AddMinutes(5), (await LoadAsync(known)).LockedUntil);
        Assert.Equal(Now.AddSeconds(30), (await LoadAsync(orphan)).LockedUntil);
        _time.Advance(TimeSpan.FromSeconds(31));
        Assert.Equal(1, await Store.RescueExpiredAsync(new RetryBackoff(1, 1), default));
        Assert.Equal(JobStatus.Pending, (await LoadAsync(orphan)).Status);
    }

    [Fact]
    public async Task EightConcurrentClaimersOver2000JobsNeverShareAJobAndMissNone()
    {
        var ids = await InsertAsync(2000);

        // Each claimer makes its first claim, then waits for all eight to have made theirs: SQLite's
        // async calls complete synchronously, so one claimer could otherwise drain the queue alone.
        var arrived = 0;
        var allArrived = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var claims = await Task.WhenAll(Enumerable.Range(0, 8).Select(w => Task.Run(async () =>
        {
            var mine = new List<Guid>();
            for (var round = 0; ; round++)
            {
                var got = await Driver.ClaimAsync(Claim($"w{w}", 25), default);
                if (round == 0 && Interlocked.Increment(ref arrived) == 8) allArrived.SetResult();
                if (round == 0) await allArrived.Task;
                if (got.Count == 0) return mine;
                mine.AddRange(got.Select(j => j.Id));
            }
        })));

        var all = claims.SelectMany(c => c).ToList();
        Assert.Equal(2000, all.Count);
        Assert.Equal(ids.Order(), all.Order());
        await using var db = await Contexts.CreateDbContextAsync();
        var owners = await db.Jobs.Select(j => new { j.Id, j.LockedBy, j.Attempt }).ToListAsync();
        for (var w = 0; w < 8; w++)
            foreach (var id in claims[w]) Assert.Equal($"w{w}", owners.Single(o => o.Id == id).LockedBy);
        Assert.All(owners, o => Assert.Equal(1, o.Attempt));
        Assert.All(claims, c => Assert.True(c.Count >= 25, "every claimer got its first batch"));
    }

    public async ValueTask InitializeAsync()
    {
        if (app.IsAvailable) await app.ResetAsync();
    }

    public ValueTask DisposeAsync() => ValueTask.CompletedTask;
}

public sealed class SqliteQueueTests(SqliteApp app) : QueueContract(app), IClassFixture<SqliteApp>;

public sealed class PostgresQueueTests(PostgresApp app) : QueueContract(app), IClassFixture<PostgresApp>;
