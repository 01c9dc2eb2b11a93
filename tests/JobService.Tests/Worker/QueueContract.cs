using System.Diagnostics;
using JobService.Data;
using JobService.Tests.Infrastructure;
using JobService.Handlers;
using JobService.Transitions;
using JobService.Webhooks;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Diagnostics;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Time.Testing;

namespace JobService.Tests.Worker;

/// <summary>
/// The queue's guarantees at the transition seam, one suite for both providers (River's driver
/// tests, in miniature): claims, order, quotas, rescue, fencing, concurrent claimers, and the
/// per-job event log every transition appends to.
/// </summary>
public abstract class QueueContract(TestApp app) : IAsyncLifetime
{
    static readonly string[] Both = ["greet", "echo"];
    readonly FakeTimeProvider _time = new(new DateTimeOffset(2026, 11, 23, 12, 0, 0, TimeSpan.Zero));

    protected TestApp App => app.EnsureAvailable();
    protected IDbContextFactory<JobsDbContext> Contexts => App.Services.GetRequiredService<IDbContextFactory<JobsDbContext>>();
    protected JobsConnections Connections => App.Services.GetRequiredService<JobsConnections>();
    protected JobTransitions T => new(Connections, App.Services.GetRequiredService<IJobDriver>(), [], _time);
    protected DateTime Now => _time.GetUtcNow().UtcDateTime;
    protected TimeProvider Clock => _time;

    protected ClaimRequest Claim(string worker, int limit, params TypeQuota[] quotas) =>
        new(worker, limit, quotas.Length > 0 ? quotas : [new TypeQuota(Both, limit)], Now, Now.AddSeconds(30));

    protected async Task<List<Guid>> InsertAsync(int count, string type = "echo", int priority = 0, TimeSpan? delay = null, int maxAttempts = 3,
        string tenant = "default", Func<int, int>? priorityOf = null, string? callbackUrl = null, string? callbackEvents = null)
    {
        var jobs = Enumerable.Range(0, count).Select(i => new Job
        {
            Id = Guid.CreateVersion7(), Type = type, Payload = "{}", Priority = priorityOf?.Invoke(i) ?? priority, MaxAttempts = maxAttempts, TenantId = tenant,
            RunAt = Now + (delay ?? TimeSpan.Zero), CreatedAt = Now, UpdatedAt = Now, CallbackUrl = callbackUrl, CallbackEvents = callbackEvents,
        }).ToList();
        await using var db = await Contexts.CreateDbContextAsync();
        await T.CreateAsync(db, jobs, "a test", maxActive: 0, default);
        return jobs.Select(j => j.Id).ToList();
    }

    async Task<List<JobEvent>> EventsAsync(Guid id)
    {
        await using var db = await Contexts.CreateDbContextAsync();
        return await db.JobEvents.AsNoTracking().Where(e => e.JobId == id).OrderBy(e => e.Seq).ToListAsync();
    }

    protected async Task<Job> LoadAsync(Guid id)
    {
        await using var db = await Contexts.CreateDbContextAsync();
        return await db.Jobs.AsNoTracking().SingleAsync(j => j.Id == id);
    }

    [Fact]
    public async Task AClaimTakesNoMoreThanItsLimitAndLeasesWhatItTakes()
    {
        await InsertAsync(10);

        var claimed = await T.ClaimAsync(Claim("w1", 3), default);

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

        Assert.Empty(await T.ClaimAsync(Claim("w1", 5), default));
        _time.Advance(TimeSpan.FromMinutes(10));
        Assert.Equal([id], (await T.ClaimAsync(Claim("w1", 5), default)).Select(j => j.Id));
    }

    [Fact]
    public async Task ClaimsFollowPriorityThenRunAtThenId()
    {
        var low = await InsertAsync(1, priority: -1);
        var first = await InsertAsync(2, priority: 5);
        var top = await InsertAsync(1, priority: 10);
        var none = await InsertAsync(1, priority: 0);

        var order = new List<Guid>();
        for (var i = 0; i < 5; i++) order.AddRange((await T.ClaimAsync(Claim("w1", 1), default)).Select(j => j.Id));

        // Equal priority and run_at: the id decides (ids made in one millisecond are not in creation order).
        Assert.Equal([.. top, .. first.OrderBy(g => g.ToString()), .. none, .. low], order);
    }

    [Fact]
    public async Task PerTypeQuotasHoldWithinOneClaim()
    {
        await InsertAsync(5, "greet", priority: 9);
        await InsertAsync(5, "echo");

        var claimed = await T.ClaimAsync(Claim("w1", 10, new TypeQuota(["echo"], 10), new TypeQuota(["greet"], 2)), default);

        Assert.Equal(2, claimed.Count(j => j.Type == "greet"));
        Assert.Equal(5, claimed.Count(j => j.Type == "echo"));
    }

    [Fact]
    public async Task TheOverallLimitCapsTheQuotasTogetherInQueueOrder()
    {
        var greet = await InsertAsync(3, "greet", priority: 9);
        await InsertAsync(3, "echo");

        var claimed = await T.ClaimAsync(Claim("w1", 4, new TypeQuota(["echo"], 4), new TypeQuota(["greet"], 4)), default);

        Assert.Equal(4, claimed.Count);
        Assert.Equal(greet.Order(), claimed.Where(j => j.Type == "greet").Select(j => j.Id).Order());
    }

    [Fact]
    public async Task AOneQuotaClaimAboveItsLimitTakesTheLimitInQueueOrder()
    {
        // One tenant and one quota is the claim's short way (FairClaim.Picked); the quota's own
        // limit is above the claim's, as a type's concurrency can be above a worker's free slots.
        var ids = await InsertAsync(5, priorityOf: i => i);

        var claimed = await T.ClaimAsync(Claim("w1", 2, new TypeQuota(["echo"], 5)), default);

        Assert.Equal(new[] { ids[4], ids[3] }.Order(), claimed.Select(j => j.Id).Order());
    }

    /// <summary>Regression: a rescue used to set run_at = now + backoff, sending a job whose worker crashed to the back of the queue.</summary>
    [Fact]
    public async Task AnExpiredLeaseIsRescuedToPendingKeepingItsPlaceWithALogLine()
    {
        var id = (await InsertAsync(1))[0];
        var runAt = (await LoadAsync(id)).RunAt;
        await T.ClaimAsync(Claim("crashed", 1), default);

        _time.Advance(TimeSpan.FromSeconds(29));
        Assert.Equal(0, await T.RescueExpiredAsync(3, default));
        _time.Advance(TimeSpan.FromSeconds(2));
        Assert.Equal(1, await T.RescueExpiredAsync(3, default));

        var job = await LoadAsync(id);
        Assert.Equal(JobStatus.Pending, job.Status);
        Assert.Null(job.LockedBy);
        Assert.Equal(runAt, job.RunAt);
        Assert.Equal(1, job.RescueCount);
        Assert.Contains("crashed", job.Error);
        var rescue = (await EventsAsync(id)).Last();
        Assert.Equal(("status", "warning"), (rescue.Kind, rescue.Level));
        Assert.Contains("lease", rescue.Message);
        Assert.Equal(job.EventSeq, rescue.Seq);
    }

    [Fact]
    public async Task AJobThatKeepsLosingItsWorkerFailsAfterMaxRescues()
    {
        var id = (await InsertAsync(1, maxAttempts: 10))[0];
        for (var i = 1; i <= 3; i++)
        {
            await T.ClaimAsync(Claim($"crashed{i}", 1), default);
            _time.Advance(TimeSpan.FromMinutes(1));
            Assert.Equal(1, await T.RescueExpiredAsync(maxRescues: 2, default));
        }

        var job = await LoadAsync(id);
        Assert.Equal((JobStatus.Failed, 3, 3), (job.Status, job.RescueCount, job.Attempt));
        Assert.Contains("lost its worker 3 times", job.Message);
        Assert.Equal("failed", (await EventsAsync(id)).Last().Kind);
    }

    [Fact]
    public async Task AnExpiredLeaseOnTheLastAttemptFailsTheJob()
    {
        var id = (await InsertAsync(1, maxAttempts: 1))[0];
        await T.ClaimAsync(Claim("crashed", 1), default);
        _time.Advance(TimeSpan.FromMinutes(1));

        Assert.Equal(1, await T.RescueExpiredAsync(3, default));

        var job = await LoadAsync(id);
        Assert.Equal(JobStatus.Failed, job.Status);
        Assert.NotNull(job.CompletedAt);
        Assert.Contains("expired", job.Error);
    }

    [Fact]
    public async Task AJobCancelledWhileItsWorkerWasDeadEndsCancelledNotRunAgain()
    {
        var id = (await InsertAsync(1))[0];
        await T.ClaimAsync(Claim("crashed", 1), default);
        await using (var db = await Contexts.CreateDbContextAsync())
            await db.Jobs.Where(j => j.Id == id).ExecuteUpdateAsync(u => u.SetProperty(j => j.CancelRequested, true));
        _time.Advance(TimeSpan.FromMinutes(1));

        Assert.Equal(1, await T.RescueExpiredAsync(3, default));

        var job = await LoadAsync(id);
        Assert.Equal(JobStatus.Cancelled, job.Status);
        Assert.NotNull(job.CompletedAt);
        Assert.Empty(await T.ClaimAsync(Claim("w2", 5), default));
    }

    [Fact]
    public async Task AWorkerThatLostItsLeaseChangesNothing()
    {
        var id = (await InsertAsync(1))[0];
        var stale = (await T.ClaimAsync(Claim("old", 1), default))[0].Lease("old");
        _time.Advance(TimeSpan.FromMinutes(1));
        await T.RescueExpiredAsync(3, default);
        _time.Advance(TimeSpan.FromSeconds(1));
        var current = (await T.ClaimAsync(Claim("new", 1), default))[0].Lease("new");
        Assert.Equal(2, current.Attempt);
        var before = await LoadAsync(id);
        var eventsBefore = await EventsAsync(id);

        Assert.Empty(await T.WriteRunningAsync([new RunningWrite(stale, new ProgressReport(80, "stale", null), new OutputPiece(0, "stale"))], default));
        Assert.Empty(await T.WriteRunningAsync([new RunningWrite(stale, null, null, new LogLine("info", "stale"))], default));
        Assert.Empty(await T.WriteRunningAsync([new RunningWrite(stale, null, null, Usage: new UsageWrite(new UsageRecord(1, 1, 1), "{}"))], default));
        Assert.Null(await T.FinishAsync(stale, JobStatus.Failed, "stale", "stale", "stale", default));
        Assert.Null(await T.RetryLaterAsync(stale, TimeSpan.Zero, "stale", "stale", default));
        Assert.Null(await T.HandBackAsync(stale, default));
        Assert.Empty(await T.CompleteAsync([new Completion(stale, "\"stale\"")], default));
        Assert.Empty(await T.RenewLeasesAsync("old", [id], Now.AddHours(1), default));

        var after = await LoadAsync(id);
        Assert.Equal(JobStatus.Running, after.Status);
        Assert.Equal("new", after.LockedBy);
        Assert.Equal(before.LockedUntil, after.LockedUntil);
        Assert.Equal(before.Progress, after.Progress);
        Assert.Equal(before.EventSeq, after.EventSeq);
        Assert.Null(after.Result);
        Assert.Null(after.TotalTokens);
        Assert.Equal(eventsBefore.Select(e => e.Seq), (await EventsAsync(id)).Select(e => e.Seq)); // not one event from the stale worker

        Assert.Equal([id], await T.WriteRunningAsync([new RunningWrite(current, new ProgressReport(40, "fresh", null), null)], default));
        Assert.Equal([id], await T.WriteRunningAsync([new RunningWrite(current, null, null, Usage: new UsageWrite(new UsageRecord(3, 4, 0.5), "{\"model\":\"m\"}"))], default));
        Assert.Equal([id], await T.CompleteAsync([new Completion(current, "{\"ok\":true}")], default));
        var done = await LoadAsync(id);
        Assert.Equal(JobStatus.Completed, done.Status);
        Assert.Equal(100, done.Progress);
        JsonAssert.Equal("{\"ok\":true}", done.Result);
        Assert.Equal(7, done.TotalTokens);
        Assert.Equal(0.5, done.CostUsd);
    }

    /// <summary>
    /// Running jobs' reports go out together (<see cref="JobTransitions.WriteRunningAsync"/>): each
    /// job still held gets its progress (never moved back), its message (null keeps the last) and
    /// its events with the next seqs, progress before output; text alone leaves updated_at; a job
    /// whose lease was lost gets nothing in the same batch.
    /// </summary>
    [Fact]
    public async Task ABatchOfRunningWritesWritesEachJobStillHeldAndTellsItInOrder()
    {
        await InsertAsync(4);
        var held = (await T.ClaimAsync(Claim("w1", 4), default)).Select(j => j.Lease("w1")).ToList();
        var (a, b, c, lost) = (held[0], held[1], held[2], held[3] with { Attempt = 9 });
        Assert.Equal([a.JobId], await T.WriteRunningAsync([new RunningWrite(a, new ProgressReport(60, "sixty", null), null)], default));
        var claimedAt = Now;
        _time.Advance(TimeSpan.FromSeconds(1));

        var written = await T.WriteRunningAsync([
            new RunningWrite(a, new ProgressReport(30, null, (3, 10)), new OutputPiece(0, "Once"), new LogLine("warning", "a line")),
            new RunningWrite(b, null, new OutputPiece(0, "upon"), new LogLine("info", "b's line")),
            new RunningWrite(c, new ProgressReport(50, "half", null), null, Usage: new UsageWrite(new UsageRecord(3, 4, 0.5) { Model = "m" }, "[{\"model\":\"m\"}]")),
            new RunningWrite(lost, new ProgressReport(90, "lost", null), new OutputPiece(0, "lost"))], default);

        Assert.Equal(new[] { a.JobId, b.JobId, c.JobId }.Order(), written.Order());
        var (jobA, jobB, jobC, jobLost) = (await LoadAsync(a.JobId), await LoadAsync(b.JobId), await LoadAsync(c.JobId), await LoadAsync(lost.JobId));
        Assert.Equal((60, "sixty", 6L, Now), (jobA.Progress, jobA.Message, jobA.EventSeq, jobA.UpdatedAt));
        Assert.Equal((0, "Running", 4L, claimedAt), (jobB.Progress, jobB.Message, jobB.EventSeq, jobB.UpdatedAt));
        Assert.Equal((50, "half", 4L, Now), (jobC.Progress, jobC.Message, jobC.EventSeq, jobC.UpdatedAt));
        Assert.Equal((3, 4, 7, 0.5), (jobC.PromptTokens, jobC.CompletionTokens, jobC.TotalTokens, jobC.CostUsd));
        JsonAssert.Equal("[{\"model\":\"m\"}]", jobC.UsageDetail);
        Assert.Null(jobB.TotalTokens); // no usage in its write: the totals stay unset
        Assert.Equal((0, 2L), (jobLost.Progress, jobLost.EventSeq));

        var eventsA = (await EventsAsync(a.JobId)).Skip(2).ToList(); // after created and claimed
        Assert.Equal([(3L, "progress"), (4L, "progress"), (5L, "output"), (6L, "log")], eventsA.Select(e => (e.Seq, e.Kind)));
        Assert.Equal(("warning", "a line"), (eventsA[3].Level, eventsA[3].Message));
        JsonAssert.Equal("""{"progress": 60, "message": "sixty", "tokens": {"received": 3, "expected": 10}}""", eventsA[1].Data);
        JsonAssert.Equal("""{"attempt": 1, "offset": 0, "text": "Once"}""", eventsA[2].Data);
        Assert.Equal([(3L, "output", null), (4L, "log", "b's line")], (await EventsAsync(b.JobId)).Skip(2).Select(e => (e.Seq, e.Kind, e.Message)));
        Assert.Equal([(3L, "progress"), (4L, "usage")], (await EventsAsync(c.JobId)).Skip(2).Select(e => (e.Seq, e.Kind)));
        Assert.Equal(2, (await EventsAsync(lost.JobId)).Count);
    }

    [Fact]
    public async Task ABatchCompletionWritesOnlyTheRowsStillHeld()
    {
        await InsertAsync(3);
        var claimed = (await T.ClaimAsync(Claim("w1", 3), default)).Select(j => j.Lease("w1")).ToList();
        var wrong = claimed[2] with { Attempt = 7 };

        var written = await T.CompleteAsync([new Completion(claimed[0], "1"), new Completion(claimed[1], null), new Completion(wrong, "3")], default);

        Assert.Equal(new[] { claimed[0].JobId, claimed[1].JobId }.Order(), written.Order());
        Assert.Equal(JobStatus.Running, (await LoadAsync(claimed[2].JobId)).Status);
        Assert.Null((await LoadAsync(claimed[1].JobId)).Result);
    }

    /// <summary>
    /// A completion is one round trip where it can be: on PostgreSQL the statement (its events in
    /// it) commits by itself when none of its jobs has a callback and no hook writes for such jobs,
    /// so the hooks already find it committed from another connection. A job with a callback (its
    /// webhook outbox row commits with it), a hook that may write, or SQLite's completion (an update
    /// per row, then the events) are written in a transaction, committed only after the hooks.
    /// </summary>
    [Fact]
    public async Task ACompletionCommitsByItselfOnlyWhenNothingIsToBeWrittenBesideIt()
    {
        await InsertAsync(2);
        var withCallback = (await InsertAsync(1, callbackUrl: "https://hooks.example/done"))[0];
        var claimed = (await T.ClaimAsync(Claim("w1", 3), default)).OrderBy(c => c.Id == withCallback).ToList(); // the one with a callback last
        Assert.Equal([false, false, true], claimed.Select(c => c.HasCallback)); // the claim tells, and the worker's completion passes it on
        var seen = new List<JobStatus>();
        var driver = App.Services.GetRequiredService<IJobDriver>();
        var quiet = new JobTransitions(Connections, driver, [new StatusSeenOutside(Contexts, seen, mayWrite: false)], _time);
        var writing = new JobTransitions(Connections, driver, [new StatusSeenOutside(Contexts, seen, mayWrite: true)], _time);

        Completion Done(ClaimedJob job) => new(job.Lease("w1"), "{}", job.HasCallback);
        Assert.Single(await quiet.CompleteAsync([Done(claimed[0])], default));
        Assert.Single(await quiet.CompleteAsync([Done(claimed[2])], default)); // the one with a callback
        Assert.Single(await writing.CompleteAsync([Done(claimed[1])], default));

        var alone = App.Database.Provider == "postgres" ? JobStatus.Completed : JobStatus.Running;
        Assert.Equal([alone, JobStatus.Running, JobStatus.Running], seen);
        foreach (var job in claimed)
        {
            Assert.Equal(JobStatus.Completed, (await LoadAsync(job.Id)).Status);
            Assert.Equal(JobEventKinds.Completed, (await EventsAsync(job.Id))[^1].Kind);
        }
    }

    /// <summary>
    /// A claim is one round trip where it can be, as a completion is: on PostgreSQL it commits by
    /// itself unless a job it picks calls its webhook when claimed (a callback that asks for
    /// job.started, whose outbox row belongs in the claim's transaction); then that try claims
    /// nothing and the claim runs in a transaction, as the next claims do for a while. A callback
    /// that wants only how the job ended does not stop it. The refusing statement, on either
    /// provider, claims none of its pick when one calls its webhook, and leaves no trace.
    /// </summary>
    [Fact]
    public async Task AClaimCommitsByItselfOnlyWhenNoJobItPicksCallsItsWebhook()
    {
        var driver = App.Services.GetRequiredService<IJobDriver>();
        var endsOnly = (await InsertAsync(1, callbackUrl: "https://hooks.example/ended", priority: 2))[0]; // first in line
        var withCallback = (await InsertAsync(1, callbackUrl: "https://hooks.example/started", callbackEvents: "job.completed job.started", priority: 1))[0]; // second
        var greet = (await InsertAsync(1, type: "greet"))[0];
        var onlyGreet = new TypeQuota(["greet"], 1);
        await using (var db = await Contexts.CreateDbContextAsync())
        await using (var tx = await TransitionTx.BeginAsync(db, driver, Now, default))
        {
            var refused = await driver.ClaimAsync(tx, Claim("w0", 2) with { RefuseWebhookCalls = true }, default);
            Assert.Equal((0, true), (refused.Jobs.Count, refused.Refused));
            var notCalled = await driver.ClaimAsync(tx, Claim("w0", 1) with { RefuseWebhookCalls = true }, default);
            Assert.Equal([(endsOnly, false, true)], notCalled.Jobs.Select(c => (c.Row.Id, c.Row.HasCallback, c.HasCallbackUrl)));
            Assert.False(notCalled.Refused);
            var took = await driver.ClaimAsync(tx, Claim("w0", 1, onlyGreet) with { RefuseWebhookCalls = true }, default);
            Assert.Equal([greet], took.Jobs.Select(c => c.Row.Id));
            Assert.False(took.Refused);
            var none = await driver.ClaimAsync(tx, Claim("w0", 1, onlyGreet) with { RefuseWebhookCalls = true }, default);
            Assert.Equal((0, false), (none.Jobs.Count, none.Refused)); // nothing due is not a refusal
        } // rolled back
        var seen = new List<JobStatus>();
        var quiet = new JobTransitions(Connections, driver, [new StatusSeenOutside(Contexts, seen, mayWrite: false)], _time);

        var ended = Assert.Single(await quiet.ClaimAsync(Claim("w1", 1), default)); // alone: its callback is not called at a claim
        Assert.Equal((endsOnly, true), (ended.Id, ended.HasCallback)); // its completion still writes an outbox row
        Assert.Equal([greet], (await quiet.ClaimAsync(Claim("w1", 1, onlyGreet), default)).Select(c => c.Id));
        var claimed = Assert.Single(await quiet.ClaimAsync(Claim("w1", 1), default)); // a try alone refused, then a transaction
        Assert.Equal((withCallback, true), (claimed.Id, claimed.HasCallback));
        var next = (await InsertAsync(1, type: "greet"))[0];
        Assert.Equal([next], (await quiet.ClaimAsync(Claim("w1", 1, onlyGreet), default)).Select(c => c.Id)); // straight to a transaction

        var alone = App.Database.Provider == "postgres" ? JobStatus.Running : JobStatus.Pending;
        Assert.Equal([alone, alone, JobStatus.Pending, JobStatus.Pending], seen);
        var job = await LoadAsync(withCallback);
        Assert.Equal((1, 2L), (job.Attempt, job.EventSeq)); // the refused try took no attempt and wrote no event
        Assert.Equal(2, (await EventsAsync(withCallback)).Count);
    }

    /// <summary>The claim's SQL reads callback_events as the outbox does (WebhookTypes.Wanted), on both providers.</summary>
    [Theory]
    [InlineData("https://hooks.example/", null)]
    [InlineData("https://hooks.example/", "job.started")]
    [InlineData("https://hooks.example/", "job.completed job.started")]
    [InlineData("https://hooks.example/", "job.started job.failed")]
    [InlineData("https://hooks.example/", "job.retrying")]
    [InlineData("https://hooks.example/", "job.completed")]
    [InlineData(null, "job.started")]
    public async Task TheClaimAsksTheOutboxsQuestionInSql(string? url, string? events)
    {
        await using var db = await Contexts.CreateDbContextAsync();
        var sql = $"SELECT CASE WHEN {WebhookTypes.AskedForSql(WebhookTypes.Started)} THEN 1 ELSE 0 END AS \"Value\" " +
            "FROM (SELECT CAST({0} AS varchar(2000)) AS callback_url, CAST({1} AS varchar(200)) AS callback_events) AS j";
        var asked = await db.Database.SqlQueryRaw<int>(sql, url ?? (object)DBNull.Value, events ?? (object)DBNull.Value).SingleAsync();
        Assert.Equal(url is not null && WebhookTypes.Wanted(events, WebhookTypes.Started), asked == 1);
    }

    /// <summary>A hook that reads the changed job's status from a connection of its own, while the transition runs.</summary>
    sealed class StatusSeenOutside(IDbContextFactory<JobsDbContext> contexts, List<JobStatus> seen, bool mayWrite) : IJobTransitionHook
    {
        public bool MayWriteWithoutCallback => mayWrite;

        public async Task OnAppliedAsync(TransitionTx tx, IReadOnlyList<AppliedChange> changes, CancellationToken ct)
        {
            await using var db = await contexts.CreateDbContextAsync(ct);
            var id = changes.Single().Row.Id;
            seen.Add(await db.Jobs.AsNoTracking().Where(j => j.Id == id).Select(j => j.Status).SingleAsync(ct));
        }
    }

    [Fact]
    public async Task RenewingExtendsOnlyThisWorkersLeasesAndReportsCancelFlags()
    {
        await InsertAsync(2);
        var mine = await T.ClaimAsync(Claim("w1", 1), default);
        var theirs = await T.ClaimAsync(Claim("w2", 1), default);
        await using (var db = await Contexts.CreateDbContextAsync())
            await db.Jobs.Where(j => j.Id == mine[0].Id).ExecuteUpdateAsync(u => u.SetProperty(j => j.CancelRequested, true));

        var held = await T.RenewLeasesAsync("w1", [mine[0].Id, theirs[0].Id], Now.AddMinutes(5), default);

        Assert.Equal([new HeldJob(mine[0].Id, 1, true)], held);
        Assert.Equal(Now.AddMinutes(5), (await LoadAsync(mine[0].Id)).LockedUntil);
        Assert.Equal(Now.AddSeconds(30), (await LoadAsync(theirs[0].Id)).LockedUntil);
    }

    [Fact]
    public async Task RenewingLeavesAJobTheWorkerDoesNotKnowItHoldsToExpire()
    {
        await InsertAsync(2);
        var claimed = await T.ClaimAsync(Claim("w1", 2), default);
        var known = claimed[0].Id;
        var orphan = claimed[1].Id; // as if the claim's answer had been lost on the way back

        await T.RenewLeasesAsync("w1", [known], Now.AddMinutes(5), default);

        Assert.Equal(Now.AddMinutes(5), (await LoadAsync(known)).LockedUntil);
        Assert.Equal(Now.AddSeconds(30), (await LoadAsync(orphan)).LockedUntil);
        _time.Advance(TimeSpan.FromSeconds(31));
        Assert.Equal(1, await T.RescueExpiredAsync(3, default));
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
                var got = await T.ClaimAsync(Claim($"w{w}", 25), default);
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

    [Fact]
    public async Task EveryTransitionReturnsTheStatusItLeftAndAppendsOneEventWithTheNextSeq()
    {
        var ids = await InsertAsync(3);
        var leases = (await T.ClaimAsync(Claim("w1", 3), default)).ToDictionary(j => j.Id, j => j.Lease("w1"));
        ids.AddRange(await InsertAsync(1)); // stays pending
        var (a, b, c) = (leases[ids[0]], leases[ids[1]], leases[ids[2]]);
        await using var db = await Contexts.CreateDbContextAsync();

        Assert.Equal(JobStatus.Pending, (await T.RetryLaterAsync(a, TimeSpan.FromSeconds(5), "retry", "boom", default))!.Status);
        Assert.Equal((JobStatus.Running, true), await T.CancelAsync(db, b.JobId, default) is { } r ? (r.Status, r.CancelRequested) : default);
        Assert.Equal(JobStatus.Cancelled, (await T.RetryLaterAsync(b, TimeSpan.FromSeconds(5), "retry", "boom", default))!.Status); // a cancel wins
        Assert.Equal(JobStatus.Pending, (await T.HandBackAsync(c, default))!.Status);
        Assert.Equal(JobStatus.Cancelled, (await T.CancelAsync(db, ids[3], default))!.Status);
        Assert.Equal(JobStatus.Pending, (await T.RequeueAsync(db, ids[3], "a test", 0, default))!.Status);
        Assert.Null(await T.RequeueAsync(db, ids[0], "a test", 0, default)); // pending: not allowed, nothing changes

        foreach (var id in ids)
        {
            var events = await EventsAsync(id);
            Assert.Equal(Enumerable.Range(1, events.Count).Select(n => (long)n), events.Select(e => e.Seq)); // gap-free from 1
            Assert.Equal((await LoadAsync(id)).EventSeq, events[^1].Seq);
            Assert.Equal("created", events[0].Kind);
            Assert.All(events, e => Assert.False(string.IsNullOrEmpty(e.Message), $"{e.Kind} tells no story"));
            foreach (var status in events.Where(e => e.Kind == "status")) // what docs/events.md promises every status event
                Assert.All(new[] { "status", "attempt", "max_attempts" }, field =>
                    Assert.True(System.Text.Json.JsonDocument.Parse(status.Data!).RootElement.TryGetProperty(field, out _), $"{status.Message}: no {field} in {status.Data}"));
        }
        Assert.Equal(["created", "cancelled", "status"], (await EventsAsync(ids[3])).Select(e => e.Kind));
        Assert.Equal(["created", "status", "status", "cancelled"], (await EventsAsync(ids[1])).Select(e => e.Kind));
    }

    /// <summary>Eight writers on one job at once: every event gets its own seq, gap-free, in commit order.</summary>
    [Fact]
    public async Task ConcurrentWritersOnOneJobGetGapFreeSequenceNumbers()
    {
        var id = (await InsertAsync(1))[0];
        var lease = (await T.ClaimAsync(Claim("w1", 1), default))[0].Lease("w1");

        await Task.WhenAll(Enumerable.Range(0, 8).Select(w => Task.Run(async () =>
        {
            for (var i = 0; i < 25; i++)
                Assert.Equal([id], await T.WriteRunningAsync([new RunningWrite(lease, null, null, new LogLine("info", $"writer {w} line {i}"))], default));
        })));

        var events = await EventsAsync(id);
        Assert.Equal(Enumerable.Range(1, 2 + 200).Select(n => (long)n), events.Select(e => e.Seq));
        for (var w = 0; w < 8; w++) // each writer's lines in the order it wrote them
        {
            var mine = events.Where(e => e.Message!.StartsWith($"writer {w} ")).Select(e => e.Message).ToList();
            Assert.Equal(Enumerable.Range(0, 25).Select(i => $"writer {w} line {i}"), mine);
        }
    }

    /// <summary>
    /// Tenant A has 2,000 jobs waiting; B submits 10 afterwards. Claims of 4 share the slots:
    /// B's jobs are all claimed within the first claims, and each tenant's jobs come in its own
    /// priority order (then oldest first).
    /// </summary>
    [Fact]
    public async Task ABigBacklogDoesNotStarveAnotherTenant()
    {
        await InsertAsync(2_000, tenant: "tenant-a", priorityOf: i => i % 3);
        _time.Advance(TimeSpan.FromSeconds(1));
        var b = await InsertAsync(10, tenant: "tenant-b", priorityOf: i => i % 2);

        var claimOf = new Dictionary<Guid, int>(); // which of ten claims of 4 took each job
        for (var claim = 0; claim < 10; claim++)
            foreach (var job in await T.ClaimAsync(Claim("w1", 4), default)) claimOf[job.Id] = claim;
        var order = claimOf.Keys.ToList();

        Assert.Equal(40, order.Count);
        var bClaims = b.Where(claimOf.ContainsKey).Select(id => claimOf[id]).Order().ToList();
        Assert.Equal(10, bClaims.Count);
        Assert.True(bClaims.Max() < 5, $"B's jobs came in claims {string.Join(", ", bClaims)} of 10: B waited behind A's backlog");
        await using var db = await Contexts.CreateDbContextAsync();
        var jobs = await db.Jobs.AsNoTracking().Where(j => order.Contains(j.Id)).ToDictionaryAsync(j => j.Id);
        foreach (var tenant in new[] { "tenant-a", "tenant-b" })
        {
            // Claim by claim (a claim's rows come back in no particular order), each tenant's best jobs first.
            var mine = order.Where(id => jobs[id].TenantId == tenant).Select(id => jobs[id])
                .OrderBy(j => claimOf[j.Id]).ThenByDescending(j => j.Priority).ThenBy(j => j.RunAt).ToList();
            var expected = mine.OrderByDescending(j => j.Priority).ThenBy(j => j.RunAt).Select(j => (j.Priority, j.RunAt));
            Assert.Equal(expected, mine.Select(j => (j.Priority, j.RunAt)));
        }
        Assert.All(order.Where(id => jobs[id].TenantId == "tenant-a"), id => Assert.Equal(2, jobs[id].Priority)); // A's best first
    }

    /// <summary>A tenant with jobs running already goes after one with none, whatever its queue.</summary>
    [Fact]
    public async Task ATenantWithNothingRunningGoesFirst()
    {
        await InsertAsync(6, tenant: "busy", priority: 5);
        Assert.Equal(3, (await T.ClaimAsync(Claim("w1", 3), default)).Count); // busy: 3 running
        var idle = await InsertAsync(3, tenant: "idle");

        var next = await T.ClaimAsync(Claim("w1", 3), default);

        Assert.Equal(idle.Order(), next.Select(j => j.Id).Order()); // shares 1, 2, 3 against busy's 4, 5, 6, despite busy's priority
    }

    /// <summary>Tenants:MaxRunningPerTenant caps a tenant's running jobs, across claims.</summary>
    [Fact]
    public async Task MaxRunningPerTenantCapsATenantsRunningJobs()
    {
        await InsertAsync(10, tenant: "capped");
        var other = await InsertAsync(2, tenant: "other");
        ClaimRequest Capped(int limit) => Claim("w1", limit) with { MaxRunningPerTenant = 3 };

        var first = await T.ClaimAsync(Capped(10), default);
        Assert.Equal(5, first.Count); // 3 of capped's, both of other's
        Assert.Superset(other.ToHashSet(), first.Select(j => j.Id).ToHashSet());
        Assert.Empty(await T.ClaimAsync(Capped(10), default)); // capped is at its 3

        await T.CompleteAsync([new Completion(first.First(j => !other.Contains(j.Id)).Lease("w1"), "{}")], default);
        Assert.Single(await T.ClaimAsync(Capped(10), default)); // one finished, one more may run
    }

    [Fact]
    public async Task TheRehearsalRunsTheWholePathAndLeavesNothingBehind()
    {
        var id = (await InsertAsync(1))[0]; // a real job, due: the rehearsal's claim must not take it
        var events = await EventsAsync(id);

        await T.RehearseAsync("w1", default); // throws unless its own job was inserted, claimed and completed

        await using var db = await Contexts.CreateDbContextAsync();
        Assert.Equal([id], await db.Jobs.Select(j => j.Id).ToListAsync());
        Assert.Equal(events.Count, await db.JobEvents.CountAsync());
        var job = await LoadAsync(id);
        Assert.Equal((JobStatus.Pending, 0, 1L), (job.Status, job.Attempt, job.EventSeq));
        Assert.Equal([id], (await T.ClaimAsync(Claim("w1", 5), default)).Select(j => j.Id)); // and the queue works on
    }

    [Theory]
    [InlineData(0)] // a whole second: no fraction at all
    [InlineData(500_000)] // trailing zeros trimmed: .5
    [InlineData(123_456)]
    [InlineData(10)] // leading zeros kept: .00001
    public async Task TheCreatedEventIsTheStorysWhicheverStatementWritesIt(int microseconds)
    {
        // The insert's SQL appends the created events itself, from Story.CreatedTemplate, wording
        // run_at in SQL (each dialect its own way); what it stores must be exactly what StoredEventWording.Created says.
        var runAt = new DateTime(2026, 11, 24, 8, 30, 15, DateTimeKind.Utc).AddTicks(microseconds * 10L);
        var job = new Job
        {
            Id = Guid.CreateVersion7(), Type = "echo", Payload = "{}", Priority = -7, MaxAttempts = 4, TenantId = "default",
            RunAt = runAt, CreatedAt = Now, UpdatedAt = Now, Message = "Waiting for a worker",
        };
        const string source = "key 'k-%s' 100%"; // format() must not read the source as a template
        await using (var db = await Contexts.CreateDbContextAsync())
            await T.CreateAsync(db, [job], source, maxActive: 0, default);

        var stored = Assert.Single(await EventsAsync(job.Id));
        var row = new JobRow(job.Id, "echo", JobStatus.Pending, 0, 4, 1, false, 0, "Waiting for a worker", null, runAt, null, null, null, false);
        var told = StoredEventWording.Created(row, source, -7, Now);
        Assert.Equal("Created by key 'k-%s' 100%", stored.Message);
        AssertSameEvent(told, stored);
    }

    [Fact]
    public async Task TheClaimedEventIsTheStorysWhicheverStatementWritesIt()
    {
        // The claim's SQL appends its events itself, from Story.ClaimedTemplate (PostgreSQL in the
        // claim statement, SQLite in a second one); what it stores must be exactly what StoredEventWording.Claimed says.
        var id = (await InsertAsync(1, maxAttempts: 4))[0];
        var worker = "w-%s-100%"; // format() must not read the worker's id as a template

        var claimed = Assert.Single(await T.ClaimAsync(Claim(worker, 5), default));

        var stored = (await EventsAsync(id))[1];
        var row = JobRow.Claimed(id, claimed.Type, claimed.Attempt, claimed.MaxAttempts, stored.Seq, Now, false, Claim(worker, 5));
        var told = StoredEventWording.Claimed(row, worker, Now);
        Assert.Equal("Claimed by worker w-%s-100% for attempt 1 of 4", stored.Message);
        AssertSameEvent(told, stored);
    }

    [Theory]
    [InlineData(250.5, "251 ms")] // both round half away from zero
    [InlineData(999.6, "1000 ms")]
    [InlineData(1_250, "1.3 s")]
    [InlineData(3_000, "3 s")]
    [InlineData(1_450, "1.5 s")]
    [InlineData(59_999.9, "60 s")]
    public async Task TheCompletedEventIsTheStorysWhicheverStatementWritesIt(double ranMs, string worded)
    {
        // The completion's SQL appends its events itself, from Story.CompletedTemplate, wording the
        // time it ran in SQL (each dialect its own way); what it stores must be exactly what StoredEventWording.Completed says.
        var id = (await InsertAsync(1, maxAttempts: 2))[0];
        var claimed = Assert.Single(await T.ClaimAsync(Claim("w1", 5), default));
        var startedAt = Now;
        _time.Advance(TimeSpan.FromMilliseconds(ranMs));

        Assert.Single(await T.CompleteAsync([new Completion(claimed.Lease("w1"), "{}")], default));

        var stored = (await EventsAsync(id))[^1];
        var row = JobRow.Completed(claimed.Lease("w1"), claimed.Type, claimed.MaxAttempts, stored.Seq, startedAt, false, Now);
        var told = StoredEventWording.Completed(row, Now);
        Assert.Equal($"Completed in {worded} (attempt 1 of 2)", stored.Message);
        AssertSameEvent(told, stored);
    }

    /// <summary>
    /// The statements word what several jobs share once (PostgresDriver's MarkRunning and InsertSql):
    /// every job of an insert, a claim and a completion must still be told with its own id, seq,
    /// attempt, max_attempts, type, priority, run_at, message and time run, whichever jobs it was
    /// grouped with, and whichever way its insert was worded.
    /// </summary>
    [Fact]
    public async Task EventsWrittenTogetherEachTellTheirOwnJob()
    {
        Job New(string type, int priority, int maxAttempts, TimeSpan runIn, string? message = "Waiting for a worker") => new()
        {
            Id = Guid.CreateVersion7(), Type = type, Payload = "{}", Priority = priority, MaxAttempts = maxAttempts, TenantId = "default",
            RunAt = Now + runIn, CreatedAt = Now, UpdatedAt = Now, Message = message,
        };
        // a goes first and is claimed twice; b next. Three inserts: one submission whose jobs differ
        // (each event worded apart), one whose jobs agree, with a NULL message (worded once), and
        // jobs whose shared columns differ (as a group commit stores several submits).
        var (a, b, c, d) = (New("echo", 10, 3, TimeSpan.Zero), New("echo", 0, 3, TimeSpan.FromSeconds(-2)), New("greet", 0, 4, TimeSpan.Zero), New("echo", -2, 7, TimeSpan.Zero));
        var (e, f) = (New("echo", 0, 3, TimeSpan.Zero, null), New("echo", 0, 3, TimeSpan.Zero, null));
        var (g, h) = (New("echo", -2, 7, TimeSpan.Zero, null), New("echo", -2, 7, TimeSpan.Zero));
        Job[] jobs = [a, b, c, d, e, f, g, h];
        foreach (var submission in new[] { new[] { a, b, c, d }, [e, f], [g, h] })
        {
            await using var db = await Contexts.CreateDbContextAsync();
            await T.CreateAsync(db, submission.ToList(), "a test", maxActive: 0, default);
        }
        foreach (var job in jobs)
        {
            var row = new JobRow(job.Id, job.Type, JobStatus.Pending, 0, job.MaxAttempts, 1, false, 0, job.Message, null, job.RunAt, null, null, null, false);
            AssertSameEvent(StoredEventWording.Created(row, "a test", job.Priority, Now), (await EventsAsync(job.Id))[0]);
        }

        // a's first attempt is retried at once; then one claim takes a's second attempt and b's first.
        var first = Assert.Single(await T.ClaimAsync(Claim("w1", 1), default));
        Assert.Equal(a.Id, first.Id);
        Assert.NotNull(await T.RetryLaterAsync(first.Lease("w1"), TimeSpan.Zero, "retry", "boom", default));
        var claims = new List<(ClaimedJob Job, ClaimRequest Claim)>();
        async Task ClaimAsync(int limit)
        {
            var claim = Claim("w1", limit);
            claims.AddRange((await T.ClaimAsync(claim, default)).Select(job => (job, claim)));
        }
        await ClaimAsync(2);
        _time.Advance(TimeSpan.FromMilliseconds(300));
        await ClaimAsync(10);
        Assert.Equal(new[] { a.Id, b.Id }.Order(), claims.Take(2).Select(x => x.Job.Id).Order());
        Assert.Equal(jobs.Select(j => j.Id).Order(), claims.Select(x => x.Job.Id).Order());
        Assert.Equal(2, claims.Single(x => x.Job.Id == a.Id).Job.Attempt);
        foreach (var (job, claim) in claims)
        {
            var stored = (await EventsAsync(job.Id)).Last(x => x.Message?.StartsWith(Story.ClaimedBy, StringComparison.Ordinal) == true);
            var row = JobRow.Claimed(job.Id, job.Type, job.Attempt, job.MaxAttempts, stored.Seq, Now, false, claim);
            AssertSameEvent(StoredEventWording.Claimed(row, "w1", claim.Now), stored);
        }

        // One completion of all eight: a and b ran 1.55 s, the others 1.25 s (b, e and f share attempt and max_attempts).
        _time.Advance(TimeSpan.FromMilliseconds(1_250));
        Assert.Equal(jobs.Length, (await T.CompleteAsync(claims.Select(x => new Completion(x.Job.Lease("w1"), "{}")).ToList(), default)).Count);
        foreach (var (job, claim) in claims)
        {
            var stored = (await EventsAsync(job.Id))[^1];
            var told = StoredEventWording.Completed(JobRow.Completed(job.Lease("w1"), job.Type, job.MaxAttempts, stored.Seq, claim.Now, false, Now), Now);
            Assert.EndsWith($"in {(claim.Now == claims[0].Claim.Now ? "1.6 s" : "1.3 s")} (attempt {job.Attempt} of {job.MaxAttempts})", stored.Message);
            AssertSameEvent(told, stored);
        }
    }

    static void AssertSameEvent(JobEvent told, JobEvent stored)
    {
        Assert.Equal((told.Seq, told.Kind, told.Level, told.Message, told.CreatedAt), (stored.Seq, stored.Kind, stored.Level, stored.Message, stored.CreatedAt));
        Assert.True(System.Text.Json.Nodes.JsonNode.DeepEquals(System.Text.Json.Nodes.JsonNode.Parse(told.Data!), System.Text.Json.Nodes.JsonNode.Parse(stored.Data!)),
            $"stored {stored.Data}, told {told.Data}");
    }

    [Fact]
    public async Task TheClaimStatementReadsAsSql()
    {
        var driver = App.Services.GetRequiredService<IJobDriver>();

        var usual = driver.ClaimSql(Claim("w1", 10));
        var quotas = driver.ClaimSql(Claim("w1", 10, new TypeQuota(["echo"], 10), new TypeQuota(["greet"], 2)));
        TestContext.Current.TestOutputHelper?.WriteLine($"{App.Database.Provider} claim:\n{usual}\n\nwith a per-type limit:\n{quotas}");

        Assert.Contains("ORDER BY priority DESC, run_at, id", usual);
        Assert.Contains("UPDATE jobs SET status = 'running'", usual);
        Assert.DoesNotContain("{", usual); // nothing left unformatted
        Assert.Equal(App.Database.Provider == "postgres", usual.Contains("FOR UPDATE SKIP LOCKED"));
        Assert.Contains("UNION ALL", quotas);
    }

    /// <summary>
    /// A claim's text is built once for each shape (<see cref="ClaimStatements"/>): claims that differ
    /// only in their values run the same instance, and each shape has its own: more quotas, a
    /// refusing claim, a tenant cap.
    /// </summary>
    [Fact]
    public void EachShapeOfClaimHasItsOwnStatementBuiltOnce()
    {
        var driver = App.Services.GetRequiredService<IJobDriver>();

        var usual = driver.ClaimSql(Claim("w1", 10));
        Assert.Same(usual, driver.ClaimSql(Claim("w2", 500, new TypeQuota(["greet"], 7)) with { Now = Now.AddHours(1) }));
        string[] shapes = [usual, driver.ClaimSql(Claim("w1", 10, new TypeQuota(["echo"], 10), new TypeQuota(["greet"], 2))),
            driver.ClaimSql(Claim("w1", 10) with { RefuseWebhookCalls = true }), driver.ClaimSql(Claim("w1", 10) with { MaxRunningPerTenant = 3 })];
        Assert.Equal(shapes.Length, shapes.Distinct().Count());
        Assert.Contains("@max_running", shapes[3]);
        Assert.DoesNotContain("@max_running", usual);
    }

    /// <summary>
    /// New jobs and their created events are stored together or not at all, also where the insert
    /// commits by itself (PostgreSQL: one batch, one implicit transaction). The job's created event
    /// is put in the way first (job_events has no foreign key to jobs), so the second statement fails.
    /// </summary>
    [Fact]
    public async Task ACreateWhoseEventCannotBeWrittenStoresNoJob()
    {
        var id = Guid.CreateVersion7();
        await using (var db = await Contexts.CreateDbContextAsync())
        {
            db.JobEvents.Add(new JobEvent { JobId = id, Seq = 1, Kind = JobEventKinds.Created, Message = "in the way", CreatedAt = Now });
            await db.SaveChangesAsync();
        }
        var job = new Job { Id = id, Type = "echo", Payload = "{}", MaxAttempts = 3, RunAt = Now, CreatedAt = Now, UpdatedAt = Now };

        await using (var db = await Contexts.CreateDbContextAsync())
            await Assert.ThrowsAnyAsync<Exception>(() => T.CreateAsync(db, [job], "a test", maxActive: 0, default));

        await using var check = await Contexts.CreateDbContextAsync();
        Assert.False(await check.Jobs.AnyAsync(j => j.Id == id));
        Assert.Equal(["in the way"], await check.JobEvents.Where(e => e.JobId == id).Select(e => e.Message).ToListAsync());
    }

    public async ValueTask InitializeAsync()
    {
        if (app.IsAvailable) await app.ResetAsync();
    }

    public ValueTask DisposeAsync() => ValueTask.CompletedTask;
}

public sealed class SqliteQueueTests(SqliteApp app) : QueueContract(app), IClassFixture<SqliteApp>;

public sealed class PostgresQueueTests(PostgresApp app) : QueueContract(app), IClassFixture<PostgresApp>
{
    /// <summary>
    /// PostgreSQL's insert sends what one submission's jobs share (tenant, status, message, times,
    /// request hash, trace parent, event seq) once. Jobs of several submits stored together (POST
    /// /jobs's group commit) differ in those: each is stored with its own, and its created event too.
    /// </summary>
    [Fact]
    public async Task AnInsertOfSeveralSubmitsJobsKeepsEachOnesOwnColumns()
    {
        Job New(string tenant, int second) => new()
        {
            Id = Guid.CreateVersion7(), Type = "echo", Payload = "{}", MaxAttempts = 1, TenantId = tenant, Message = "Waiting for a worker",
            RunAt = Now.AddSeconds(second), CreatedAt = Now.AddSeconds(second), UpdatedAt = Now.AddSeconds(second),
            TraceParent = $"00-{Guid.NewGuid():N}-{second:x16}-01", RequestHash = second == 1 ? "a-hash" : null,
        };
        var jobs = new List<Job> { New("acme", 1), New("globex", 2) };

        await using (var db = await Contexts.CreateDbContextAsync())
            await T.CreateAsync(db, jobs, "a test", maxActive: 0, default);

        await using var check = await Contexts.CreateDbContextAsync();
        foreach (var job in jobs)
        {
            var stored = await check.Jobs.SingleAsync(j => j.Id == job.Id);
            Assert.Equal((job.TenantId, job.TraceParent, job.RequestHash, job.CreatedAt, job.UpdatedAt, JobStatus.Pending, 1L),
                (stored.TenantId, stored.TraceParent, stored.RequestHash, stored.CreatedAt, stored.UpdatedAt, stored.Status, stored.EventSeq));
            var created = await check.JobEvents.SingleAsync(e => e.JobId == job.Id);
            Assert.Equal((JobEventKinds.Created, 1L), (created.Kind, created.Seq));
        }
    }

    /// <summary>
    /// A worker's batch writes reach the same running jobs from connections of their own (lease
    /// renewals beside progress writes or completions), each locking its rows in whatever order its
    /// plan visits them. The renewal never waits for a row while it holds another: it passes over
    /// busy rows and renews those one job at a time, so no two of them can wait for each other in a
    /// cycle (which PostgreSQL breaks by failing one). Here the test holds one job's row: while the
    /// renewal of both jobs waits for it, the other's lease is already renewed and committed (so
    /// the renewal holds nothing while it waits: that row can be locked from outside), and a
    /// progress write of both, in the other order, then goes through too.
    /// </summary>
    [Fact]
    public async Task ALeaseRenewalNeverWaitsForARowWhileHoldingAnother()
    {
        await InsertAsync(2);
        var leases = (await T.ClaimAsync(Claim("w1", 2), default)).Select(j => j.Lease("w1")).ToList();
        var (busy, free) = (leases[0], leases[1]);
        await using var holder = new Npgsql.NpgsqlConnection(App.Database.ConnectionString + ";Pooling=false");
        await using var watcher = new Npgsql.NpgsqlConnection(App.Database.ConnectionString + ";Pooling=false");
        await Task.WhenAll(holder.OpenAsync(), watcher.OpenAsync());
        await using var holding = await holder.BeginTransactionAsync();
        await Exec(holder, $"SELECT 1 FROM jobs WHERE id = '{busy.JobId}' FOR UPDATE");

        var renewal = T.RenewLeasesAsync("w1", [free.JobId, busy.JobId], Now.AddMinutes(1), default);
        await Poll.UntilAsync(async () => await Exec(watcher, "SELECT COUNT(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'") == 1,
            "the renewal waits for the held row", TimeSpan.FromSeconds(15));
        await using (var read = new Npgsql.NpgsqlCommand($"SELECT locked_until FROM jobs WHERE id = '{free.JobId}'", watcher))
            Assert.Equal(Now.AddMinutes(1), DateTime.SpecifyKind((DateTime)(await read.ExecuteScalarAsync())!, DateTimeKind.Utc));
        await using (var probe = await watcher.BeginTransactionAsync())
        {
            await Exec(watcher, $"SELECT 1 FROM jobs WHERE id = '{free.JobId}' FOR UPDATE NOWAIT"); // throws if the renewal holds it
            await probe.RollbackAsync();
        }
        var progress = T.WriteRunningAsync([new RunningWrite(free, new ProgressReport(10, "ten", null), null), new RunningWrite(busy, new ProgressReport(20, "twenty", null), null)], default);
        await holding.CommitAsync();

        Assert.Equal(2, (await renewal).Count);
        Assert.Equal(2, (await progress).Count);
        Assert.Equal(Now.AddMinutes(1), (await LoadAsync(busy.JobId)).LockedUntil);

        static async Task<long> Exec(Npgsql.NpgsqlConnection connection, string sql)
        {
            await using var command = new Npgsql.NpgsqlCommand(sql, connection);
            return Convert.ToInt64(await command.ExecuteScalarAsync() ?? 0L);
        }
    }

    /// <summary>
    /// One job's write that PostgreSQL refuses (here a NUL in its message, which the job's context
    /// replaces before it gets this far) fails alone: the batch it came in is written again one job
    /// at a time, so the other jobs' progress still goes in.
    /// </summary>
    [Fact]
    public async Task AWriteTheDatabaseRefusesFailsAloneNotItsBatch()
    {
        await InsertAsync(2);
        var leases = (await T.ClaimAsync(Claim("w1", 2), default)).Select(j => j.Lease("w1")).ToList();
        var batcher = new JobService.Worker.ProgressBatcher(T, Microsoft.Extensions.Logging.Abstractions.NullLogger<JobService.Worker.ProgressBatcher>.Instance);
        var good = batcher.WriteAsync(new RunningWrite(leases[0], new ProgressReport(40, "fine", null), null));
        var bad = batcher.WriteAsync(new RunningWrite(leases[1], new ProgressReport(50, "a \0 in it", null), null));
        batcher.Stop(); // both are queued: one batch, then the end
        await batcher.RunAsync();

        Assert.True(await good);
        await Assert.ThrowsAsync<Npgsql.PostgresException>(() => bad);
        Assert.Equal((40, "fine"), (await LoadAsync(leases[0].JobId)) switch { var j => (j.Progress, j.Message) });
        Assert.Equal(0, (await LoadAsync(leases[1].JobId)).Progress);
    }

    /// <summary>
    /// A statement PostgreSQL refuses at its bind (a NUL in a message: the job's context replaces it
    /// before it gets this far) leaves its connection fit to run the statement again. Npgsql 10.0.3's
    /// auto-prepare counts a statement prepared once its parse is answered, before its bind: when the
    /// run that prepares it is refused there, the connection keeps a prepared statement with no
    /// description of its rows, and the statement's next run on it fails ("unexpected backend message
    /// DataRow"), npgsql#6391. The service's statements are prepared in a round trip of their own
    /// (<see cref="PreparedCommands"/>). One connection, so every run meets the one before; refused
    /// runs alternate with good ones past Npgsql's threshold (the fifth run is prepared).
    /// </summary>
    [Fact]
    public async Task AStatementTheDatabaseRefusesLeavesItsConnectionFitForItsNextRun()
    {
        var id = (await InsertAsync(1))[0];
        var lease = (await T.ClaimAsync(Claim("w1", 1), default))[0].Lease("w1");
        var (transitions, oneConnection) = OnOneConnection("");
        await using var _ = oneConnection;

        for (var run = 1; run <= 12; run += 2)
        {
            await Assert.ThrowsAsync<Npgsql.PostgresException>(() => transitions.WriteRunningAsync([new RunningWrite(lease, new ProgressReport(run, "a \0 in it", null), null)], default));
            Assert.Equal([id], await transitions.WriteRunningAsync([new RunningWrite(lease, new ProgressReport(run + 1, $"run {run + 1}", null), null)], default));
        }
        Assert.Equal((12, "run 12"), (await LoadAsync(id)) switch { var j => (j.Progress, j.Message) });
    }

    /// <summary>
    /// A statement is prepared the first time its connection runs it (not at its fifth run, as
    /// Npgsql's auto-prepare would), and not at all where the connection string turns preparing
    /// off (<c>Max Auto Prepare=0</c>, for a pooler that cannot keep prepared statements).
    /// </summary>
    [Theory]
    [InlineData("", 1)]
    [InlineData(";Max Auto Prepare=0", 0)]
    public async Task AStatementIsPreparedAtItsFirstRunUnlessTheConnectionStringSaysNot(string setting, int prepared)
    {
        var id = (await InsertAsync(1))[0];
        var lease = (await T.ClaimAsync(Claim("w1", 1), default))[0].Lease("w1");
        var (transitions, oneConnection) = OnOneConnection(setting);
        await using var _ = oneConnection;

        Assert.Equal([id], await transitions.WriteRunningAsync([new RunningWrite(lease, new ProgressReport(5, "five", null), null)], default));

        await using var connection = await oneConnection.OpenConnectionAsync();
        await using var count = new Npgsql.NpgsqlCommand("SELECT COUNT(*) FROM pg_prepared_statements WHERE statement LIKE '%UPDATE jobs AS j SET%progress%'", connection);
        Assert.Equal(prepared, Convert.ToInt32(await count.ExecuteScalarAsync()));
    }

    /// <summary>Transitions on a data source of one connection, with the service's connection settings and <paramref name="setting"/> after them.</summary>
    (JobTransitions, Npgsql.NpgsqlDataSource) OnOneConnection(string setting)
    {
        var service = App.Services.GetRequiredService<Npgsql.NpgsqlDataSource>(); // the service's settings, auto-prepare among them
        var settings = new Npgsql.NpgsqlConnectionStringBuilder(service.ConnectionString)
        {
            Password = new Npgsql.NpgsqlConnectionStringBuilder(App.Database.ConnectionString).Password, // which the data source does not show
            MaxPoolSize = 1,
        };
        var source = Npgsql.NpgsqlDataSource.Create(settings.ConnectionString + setting);
        var provider = new ServiceCollection().AddSingleton(source).BuildServiceProvider();
        var options = App.Services.GetRequiredService<Microsoft.Extensions.Options.IOptions<DatabaseOptions>>();
        return (new JobTransitions(new JobsConnections(provider, options), App.Services.GetRequiredService<IJobDriver>(), [], Clock), source);
    }

    /// <summary>
    /// A claim that finds nothing due is over with its one statement: where it may commit by
    /// itself, it is not run again in a transaction (an idle worker's poll, a wake-up another
    /// worker answered first). Counted from Npgsql's own trace of the commands it sent; SQLite's
    /// claims are always in a transaction (<see cref="IJobDriver.WritesCommitAlone"/>),
    /// so this is PostgreSQL's alone.
    /// </summary>
    [Fact]
    public async Task AClaimThatFindsNothingDueIsOneStatement()
    {
        await InsertAsync(1, delay: TimeSpan.FromMinutes(5)); // pending, not due
        var sent = new List<string>();
        using var parent = new Activity("a claim with nothing due");
        using var listener = new ActivityListener
        {
            ShouldListenTo = s => s.Name == "Npgsql",
            Sample = (ref ActivityCreationOptions<ActivityContext> _) => ActivitySamplingResult.AllData,
            ActivityStopped = a => // commands only: opening a connection is traced too
            {
                if (a.Parent == parent && (a.GetTagItem("db.query.text") ?? a.GetTagItem("db.statement")) is string sql) lock (sent) sent.Add(sql);
            },
        };
        ActivitySource.AddActivityListener(listener);
        parent.Start();
        Assert.Empty(await T.ClaimAsync(Claim("w0", 4), default));
        parent.Stop();
        Assert.Single(sent);
    }

    /// <summary>
    /// New jobs without callbacks, under no quota, are their insert alone: no transaction around it
    /// (whose COMMIT would be a second round trip for every POST /jobs). With a callback the
    /// transaction stays, for the webhook outbox's row. Transactions are counted from EF Core's
    /// diagnostics for the context the create runs on.
    /// </summary>
    [Fact]
    public async Task ACreateWithoutCallbacksCommitsByItself()
    {
        Assert.Equal(0, await TransactionsStartedAsync(callbackUrl: null));
        Assert.Equal(1, await TransactionsStartedAsync(callbackUrl: "https://example.com/hook"));
    }

    async Task<int> TransactionsStartedAsync(string? callbackUrl)
    {
        var started = 0;
        await using var db = await Contexts.CreateDbContextAsync();
        using var subscription = DiagnosticListener.AllListeners.Subscribe(new Observer<DiagnosticListener>(listener =>
        {
            if (listener.Name == DbLoggerCategory.Name)
                listener.Subscribe(new Observer<KeyValuePair<string, object?>>(e =>
                {
                    if (e.Key == RelationalEventId.TransactionStarted.Name && e.Value is TransactionEventData t && t.Context == db) Interlocked.Increment(ref started);
                }));
        }));
        var job = new Job { Id = Guid.CreateVersion7(), Type = "echo", Payload = "{}", MaxAttempts = 3, RunAt = Now, CreatedAt = Now, UpdatedAt = Now, CallbackUrl = callbackUrl };
        await T.CreateAsync(db, [job], "a test", maxActive: 0, default);
        return started;
    }

    /// <summary>
    /// The worker's statements that list the jobs it holds (the completion batch, the lease
    /// renewal, the progress writes) find them by id, whatever the statistics say: on the primary key, or by hashing
    /// the list against a small table, never through ix_jobs_claim. Planned from an
    /// ANALYZE taken while nothing ran (so "this worker's running jobs" looks like one row), the
    /// fence written as a filter read them all through ix_jobs_claim and compared each with every
    /// listed id (0.3–1.6 s a 1,000-job completion at 1,000 slots). Each plan, generic (as an
    /// auto-prepared statement runs, and as the completion asks for) and custom, is read from
    /// auto_explain, sent back as notices in a transaction that is rolled back.
    /// </summary>
    [Theory]
    [InlineData("force_generic_plan")]
    [InlineData("force_custom_plan")]
    public async Task TheWorkersListsOfHeldJobsAreFoundByIdNotThroughTheClaimIndex(string planMode)
    {
        await InsertAsync(3_000);
        await using (var analyze = await Connections.OpenAsync(default))
        {
            await using var command = analyze.CreateCommand();
            command.CommandText = "ANALYZE jobs";
            await command.ExecuteNonQueryAsync();
        }
        var held = await T.ClaimAsync(Claim("w1", 3_000), default);
        Assert.Equal(3_000, held.Count);

        var driver = App.Services.GetRequiredService<IJobDriver>();
        await using var tx = await TransitionTx.BeginAsync(Connections, driver, Now, selfCommitting: false, default);
        var plans = new List<string>();
        ((Npgsql.NpgsqlConnection)tx.Connection).Notice += (_, e) => { if (e.Notice.MessageText.Contains("\"Plan\"") && e.Notice.MessageText.Contains("UPDATE jobs")) plans.Add(e.Notice.MessageText); };
        await using (var explain = tx.Command($"""
            LOAD 'auto_explain';
            SET LOCAL auto_explain.log_min_duration = 0; SET LOCAL auto_explain.log_level = notice;
            SET LOCAL auto_explain.log_format = json; SET LOCAL plan_cache_mode = {planMode};
            """))
            await explain.ExecuteNonQueryAsync();

        // The renewal first: the completion asks for a generic plan itself, to the transaction's end.
        var renewed = await driver.RenewLeasesAsync(tx, "w1", held.Skip(1_000).Select(j => j.Id).ToList(), Now.AddMinutes(1), default, skipBusy: true);
        var reported = await driver.WriteRunningAsync(tx, held.Skip(2_000).Select(j => new RunningWrite(j.Lease("w1"), new ProgressReport(50, null, null), null)).ToList(), default);
        var completed = await driver.CompleteAsync(tx, held.Take(1_000).Select(j => new Completion(j.Lease("w1"), "{}", HasCallback: false)).ToList(), default);

        Assert.Equal((1_000, 2_000, 1_000), (completed.Count, renewed.Count, reported.Count));
        Assert.Equal(3, plans.Count);
        Assert.All(plans, plan => Assert.DoesNotContain("ix_jobs_claim", plan));
    }

    /// <summary>
    /// The API's bulk actions (cancel, retry, delete by ids) find the listed jobs by id, whatever
    /// the statistics say, as the worker's lists do (above). From an ANALYZE taken while every job
    /// ran (so "pending", "failed" and "completed" each look like no rows), the state written as a
    /// filter read every job in that state through ix_jobs_claim and looked each up in the list: a
    /// retry of 1,000 jobs among 20,000 failed took 68–78 ms, growing with the failed count. Each
    /// statement's plan, generic and custom, is read from auto_explain's notices.
    /// </summary>
    [Theory]
    [InlineData("force_generic_plan")]
    [InlineData("force_custom_plan")]
    public async Task TheApisBulkActionsFindTheListedJobsByIdNotThroughTheClaimIndex(string planMode)
    {
        var ids = await InsertAsync(4_000);
        // A connection of its own, not pooled: the session settings below end with it.
        await using var connection = new Npgsql.NpgsqlConnection(App.Database.ConnectionString + ";Pooling=false");
        await connection.OpenAsync();
        await using var db = Connections.ContextOn(connection, null);
        // Autovacuum held off, so that no ANALYZE of its own makes the statistics true mid-test.
        await db.Database.ExecuteSqlRawAsync("""
            ALTER TABLE jobs SET (autovacuum_enabled = false);
            UPDATE jobs SET status = 'running', locked_by = 'w1', started_at = now(); ANALYZE jobs
            """);
        string[] states = ["pending", "failed", "completed"];
        for (var s = 0; s < states.Length; s++)
            await db.Database.ExecuteSqlAsync($"UPDATE jobs SET status = {states[s]}, locked_by = NULL WHERE id = ANY({ids.Skip(s * 1_000).Take(1_000).ToArray()})");

        var plans = new List<string>();
        connection.Notice += (_, e) =>
        {
            if (e.Notice.MessageText.Contains("\"Plan\"") && e.Notice.MessageText.Contains(" jobs ")) plans.Add(e.Notice.MessageText);
        };
        var explain = $"""
            LOAD 'auto_explain';
            SET auto_explain.log_min_duration = 0; SET auto_explain.log_level = notice;
            SET auto_explain.log_format = json; SET plan_cache_mode = {planMode};
            """;
        IReadOnlyList<JobRow> cancelled, retried, deleted;
        try
        {
            await db.Database.ExecuteSqlRawAsync(explain); // for the session: the actions run transactions of their own
            cancelled = await T.CancelAsync(db, [.. ids.Take(1_000), .. ids.Skip(3_000)], default);
            retried = await T.RequeueAsync(db, ids.Skip(1_000).Take(1_000).ToList(), "a test", 0, default);
            deleted = await T.DeleteAsync(db, ids.Skip(2_000).Take(1_000).ToList(), default);
        }
        finally
        {
            await db.Database.ExecuteSqlRawAsync("RESET ALL; ALTER TABLE jobs RESET (autovacuum_enabled)");
        }

        Assert.Equal((2_000, 1_000, 1_000), (cancelled.Count, retried.Count, deleted.Count));
        Assert.Equal(4, plans.Count(p => p.Contains("UPDATE jobs") || p.Contains("DELETE FROM jobs")));
        Assert.All(plans, plan => Assert.DoesNotContain("ix_jobs_claim", plan));
    }

    sealed class Observer<T>(Action<T> next) : IObserver<T>
    {
        public void OnNext(T value) => next(value);
        public void OnCompleted() { }
        public void OnError(Exception error) { }
    }
}

