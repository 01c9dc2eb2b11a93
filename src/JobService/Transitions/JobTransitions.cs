using System.Collections.Concurrent;
using System.Data.Common;
using JobService.Data;
using JobService.Handlers;
using Microsoft.EntityFrameworkCore;

namespace JobService.Transitions;

/// <summary>
/// The one place a job changes: one method per transition. Each is a guarded statement (the
/// status it may change from, and for a worker its lease: status running, same attempt, same
/// owner) that takes the next event seq and returns the rows as they now stand; the events it
/// describes are appended in the same transaction, the hooks run, and after the commit every
/// node hears about it. A stale worker's write matches no row: it changes nothing and appends
/// nothing. Statements that read the same in both dialects are here; the rest are the driver's.
/// </summary>
public sealed class JobTransitions(
    JobsConnections connections, IJobDriver driver, IEnumerable<IJobTransitionHook> hooks, TimeProvider time)
{
    const string Fenced = "id = @id AND status = 'running' AND attempt = @attempt AND locked_by = @worker";
    /// <summary>The finished states, as a SQL list.</summary>
    const string FinishedStates = "'completed', 'failed', 'cancelled'";

    /// <summary>"A cancel wins": a job whose cancel was asked for ends cancelled rather than running again. Written once.</summary>
    static string CancelWins(string otherwise) => $"CASE WHEN cancel_requested THEN 'cancelled' ELSE {otherwise} END";
    const string EndedIfCancelled = "completed_at = CASE WHEN cancel_requested THEN @now ELSE NULL END";

    readonly IJobTransitionHook[] _hooks = hooks.ToArray();

    /// <summary>
    /// A claim, completion or insert that calls no webhook can be its round trip alone
    /// (<see cref="ClaimAsync"/>, <see cref="CompleteAsync"/>, <see cref="CreateAsync"/>).
    /// </summary>
    readonly bool _writesCommitAlone = driver.WritesCommitAlone && hooks.All(h => !h.MayWriteWithoutCallback);

    /// <summary>Claims left to go straight to a transaction, after one took jobs whose claim calls a webhook (<see cref="ClaimAsync"/>).</summary>
    int _claimsInTransaction;

    public IJobDriver Driver => driver;
    DateTime Now => time.GetUtcNow().UtcDateTime;

    // ---- The API's transitions: on the request's context ----

    /// <summary>
    /// Stores new jobs (one or a batch, of one tenant) with their created events. A tenant's pending
    /// and running jobs are counted and the new ones inserted under a lock on the tenant, in one
    /// transaction, so <paramref name="maxActive"/> holds across instances: past it, nothing is stored
    /// (<see cref="QuotaExceededException"/>); 0 means no quota. The caller handles an Idempotency-Key race (<see cref="DuplicateJobException"/>).
    /// Without a quota and without callbacks (no webhook outbox row is due), where the driver's insert
    /// is atomic by itself (PostgreSQL), it commits by itself: one round trip instead of two (the
    /// insert, then COMMIT) for every POST /jobs.
    /// </summary>
    public async Task CreateAsync(JobsDbContext db, IReadOnlyList<Job> jobs, string source, int maxActive, CancellationToken ct)
    {
        var alone = maxActive == 0 && _writesCommitAlone && jobs.All(j => j.CallbackUrl is null);
        await using var tx = alone
            ? await TransitionTx.BeginSelfCommittingAsync(db, driver, Now, ct)
            : await TransitionTx.BeginAsync(db, driver, Now, ct);
        if (maxActive > 0) await EnforceQuotaAsync(tx, jobs[0].TenantId, jobs.Count, maxActive, ct);
        foreach (var job in jobs)
            (job.EventSeq, job.RunAt, job.CreatedAt, job.UpdatedAt) = (1, JobsDbContext.ToUtc(job.RunAt), JobsDbContext.ToUtc(job.CreatedAt), JobsDbContext.ToUtc(job.UpdatedAt));
        // One statement for the batch (no change tracking per job) that words the created events
        // itself; the hooks see their kind and level.
        var sent = await driver.InsertJobsAsync(tx, jobs, source, ct);
        await ApplyAsync(tx, jobs.Select(j => CreatedChange(j, tx.Now)).ToList(), stored: true, ct, sentWithCommit: sent);
        tx.AfterCommit(() => driver.Notifier.Publish(new Notice.JobsAvailable(SentWithCommit: sent)));
        await tx.CommitAsync(ct);
    }

    /// <summary>
    /// Every tenant's submits together without a quota; with one (the same for every keyed caller:
    /// <see cref="Auth.TenantOptions.QuotaFor"/>), each tenant's apart, counted for the group.
    /// </summary>
    readonly RunTogether<Job, Job> _submits = new(MaxGroup);
    readonly ConcurrentDictionary<string, RunTogether<Job, Job>> _tenantSubmits = new();

    /// <summary>
    /// POST /jobs: <see cref="CreateAsync"/> for one job, stored with the others submitted while the
    /// one before them commits (<see cref="RunTogether{TItem, TResult}"/>), so that under load a
    /// submit is a row, not a transaction. A group's refusal that one job may have caused (the
    /// database refused the statement, a duplicate Idempotency-Key, or the group is past the
    /// tenant's quota; nothing was stored) has each job try alone, so that every submit is answered
    /// as if it had come by itself; an outage fails them all, as it would have failed each.
    /// </summary>
    public Task<Job> SubmitAsync(JobsDbContext db, Job job, int maxActive) =>
        (maxActive == 0 ? _submits : _tenantSubmits.GetOrAdd(job.TenantId, _ => new(MaxGroup))).RunAsync(job,
            async jobs =>
            {
                await CreateAsync(db, jobs, "POST /jobs", maxActive, CancellationToken.None);
                return jobs;
            },
            e => (e is DbException or QuotaExceededException or DuplicateJobException) && !DatabaseErrors.IsUnavailable(e));

    /// <summary>As many jobs as one POST /jobs/batch takes.</summary>
    const int MaxGroup = 1000;

    /// <summary>Submits waiting in <see cref="SubmitAsync"/> for the commit before them (for tests).</summary>
    internal int SubmitsQueued => _submits.Queued + _tenantSubmits.Values.Sum(g => g.Queued);

    /// <summary>Submits in the group whose insert runs now (for tests).</summary>
    internal int SubmitsRunning => _submits.Running + _tenantSubmits.Values.Sum(g => g.Running);

    /// <summary>
    /// Counts the tenant's pending and running jobs under a lock on the tenant (held to commit), so
    /// two instances submitting for one tenant at once cannot both pass the quota. With
    /// <paramref name="written"/>, the <paramref name="adding"/> jobs were made active by this
    /// transaction already (a requeue), and the count includes them.
    /// </summary>
    async Task EnforceQuotaAsync(TransitionTx tx, string tenant, int adding, int maxActive, CancellationToken ct, bool written = false)
    {
        await driver.LockTenantAsync(tx, tenant, ct);
        // One count per state, each through its partial index (ix_jobs_claim, ix_jobs_lease).
        await using var count = tx.Command("""
            SELECT (SELECT COUNT(*) FROM jobs WHERE status = 'pending' AND tenant_id = @tenant)
                + (SELECT COUNT(*) FROM jobs WHERE status = 'running' AND tenant_id = @tenant)
            """);
        driver.Bind(count, "tenant", tenant);
        var active = Convert.ToInt64(await count.ExecutePreparedScalarAsync(ct)) - (written ? adding : 0);
        if (active + adding > maxActive) throw new QuotaExceededException(tenant, active, adding, maxActive);
    }

    /// <summary>Pending: cancelled at once. Running: the cancel flag is set and the worker holding it stops the handler. Null when neither applies.</summary>
    public async Task<JobRow?> CancelAsync(JobsDbContext db, Guid id, CancellationToken ct) => (await CancelAsync(db, [id], ct)).FirstOrDefault();

    /// <summary>
    /// Cancels many jobs in one transaction (a bulk action's batch), each as <see cref="CancelAsync(JobsDbContext, Guid, CancellationToken)"/>
    /// would; returns the rows changed. The ids are the caller's to have checked for the tenant.
    /// </summary>
    public async Task<IReadOnlyList<JobRow>> CancelAsync(JobsDbContext db, IReadOnlyCollection<Guid> ids, CancellationToken ct)
    {
        await using var tx = await TransitionTx.BeginAsync(db, driver, Now, ct);
        var pending = await UpdateAsync(tx, $"""
            UPDATE jobs SET status = 'cancelled', completed_at = @now, updated_at = @now,
                message = CASE WHEN attempt = 0 THEN '{CancelledBeforeStart}' ELSE '{CancelledWaitingToRunAgain}' END,
                event_seq = event_seq + 1
            {driver.ListedIn("ids", "'pending'")}
            RETURNING {JobRow.Columns}
            """, ct, ("ids", driver.Ids(ids)));
        await ApplyAsync(tx, pending, r => Story.CancelledPending(r, tx.Now), ct);
        List<JobRow> running = pending.Count == ids.Count ? [] : await UpdateAsync(tx, $"""
            UPDATE jobs SET cancel_requested = TRUE, updated_at = @now, event_seq = event_seq + 1
            {driver.ListedIn("ids", "'running'")} AND NOT cancel_requested
            RETURNING {JobRow.Columns}
            """, ct, ("ids", driver.Ids(ids)));
        await ApplyAsync(tx, running, r => Story.CancelRequested(r, tx.Now), ct);
        if (running.Count > 0) tx.AfterCommit(() => { foreach (var r in running) driver.Notifier.Publish(new Notice.CancelRequested(r.Id, r.EventSeq)); });
        await tx.CommitAsync(ct);
        return [.. pending, .. running];
    }

    /// <summary>Failed or cancelled back to pending, with a fresh set of attempts, to run now. Null when the job is in neither state.</summary>
    public async Task<JobRow?> RequeueAsync(JobsDbContext db, Guid id, string source, int maxActive, CancellationToken ct) =>
        (await RequeueAsync(db, [id], source, maxActive, ct)).FirstOrDefault();

    /// <summary>
    /// Requeues many jobs in one transaction; returns the rows changed. A requeued job is active
    /// again, so each tenant's quota holds as at submit (<see cref="CreateAsync"/>): past it,
    /// nothing is requeued (<see cref="QuotaExceededException"/>).
    /// </summary>
    public async Task<IReadOnlyList<JobRow>> RequeueAsync(JobsDbContext db, IReadOnlyCollection<Guid> ids, string source, int maxActive, CancellationToken ct)
    {
        await using var tx = await TransitionTx.BeginAsync(db, driver, Now, ct);
        var rows = await UpdateAsync(tx, $"""
            UPDATE jobs SET status = 'pending', attempt = 0, progress = 0, message = 'Queued for retry', error = NULL, result = NULL, checkpoint = NULL,
                cancel_requested = FALSE, rescue_count = 0, run_at = @now, started_at = NULL, completed_at = NULL,
                locked_by = NULL, locked_until = NULL, updated_at = @now, event_seq = event_seq + 1
            {driver.ListedIn("ids", "'failed', 'cancelled'")}
            RETURNING {JobRow.Columns}
            """, ct, ("ids", driver.Ids(ids)));
        if (rows.Count == 0) return rows;
        if (maxActive > 0)
        {
            // Counted after the update, so that exactly the jobs it made active count (one cancelled in
            // the meantime too); tenants in order, so that two requeues take their locks in one order.
            await using var count = tx.Command($"SELECT tenant_id, COUNT(*) FROM jobs WHERE {driver.IdIn("ids")} GROUP BY tenant_id ORDER BY tenant_id");
            driver.Bind(count, "ids", driver.Ids(rows.Select(r => r.Id)));
            foreach (var (tenant, added) in await tx.RowsAsync(count, r => (r.GetString(0), Convert.ToInt32(r.GetValue(1))), ct))
                await EnforceQuotaAsync(tx, tenant, added, maxActive, ct, written: true);
        }
        await ApplyAsync(tx, rows, r => Story.Requeued(r, tx.Now, source), ct);
        tx.AfterCommit(() => driver.Notifier.Publish(new Notice.JobsAvailable()));
        await tx.CommitAsync(ct);
        return rows;
    }

    /// <summary>Deletes a finished job with its events. False when it is not finished (or not there).</summary>
    public async Task<bool> DeleteAsync(JobsDbContext db, Guid id, CancellationToken ct) => (await DeleteAsync(db, [id], ct)).Count == 1;

    /// <summary>Deletes many finished jobs with their events in one transaction; returns the rows deleted.</summary>
    public async Task<IReadOnlyList<JobRow>> DeleteAsync(JobsDbContext db, IReadOnlyCollection<Guid> ids, CancellationToken ct)
    {
        await using var tx = await TransitionTx.BeginAsync(db, driver, Now, ct);
        var rows = await UpdateAsync(tx, $"DELETE FROM jobs {driver.ListedIn("ids", FinishedStates, delete: true)} RETURNING {JobRow.Columns}", ct, ("ids", driver.Ids(ids)));
        if (rows.Count == 0) return rows;
        await DeleteEventsOfAsync(tx, rows, ct);
        await ApplyAsync(tx, rows, _ => null, ct);
        await tx.CommitAsync(ct);
        return rows;
    }

    // ---- The worker's transitions: each on a context of its own, fenced on the lease ----

    /// <summary>
    /// Claims due jobs for a worker (<see cref="IJobDriver.ClaimAsync"/>). Where the claim is one
    /// statement and no hook writes for jobs without callbacks, it is first tried on its own,
    /// committing by itself (one round trip instead of two: an idle worker's pickup and a
    /// 10-slot drain's claims), refusing the whole pick if any picked job's claim calls its webhook
    /// (a callback whose callback_events ask for job.started, <see cref="FairClaim.CallsStarted"/>),
    /// whose outbox row belongs in the claim's transaction. Refused, the claim runs again in a
    /// transaction; empty, it is over. After a claim that took such jobs, the next 16 go straight to
    /// a transaction, so a queue of them does not pay for a refused try each time. The tenant cap's
    /// lock (MaxRunningPerTenant) needs the transaction.
    /// </summary>
    /// <param name="on">The claimer's own connection (<see cref="KeepConnection"/>), when it is free.</param>
    public async Task<IReadOnlyList<ClaimedJob>> ClaimAsync(ClaimRequest request, CancellationToken ct, KeptConnection? on = null)
    {
        if (request.Limit <= 0 || request.Quotas.Count == 0) return [];
        if (_writesCommitAlone && request.MaxRunningPerTenant == 0)
        {
            if (Volatile.Read(ref _claimsInTransaction) > 0) Interlocked.Decrement(ref _claimsInTransaction);
            else if (await ClaimAsync(request with { RefuseWebhookCalls = true }, selfCommitting: true, on, ct) is (var alone, Refused: false, _)) return alone;
        }
        var (claimed, _, calledStarted) = await ClaimAsync(request, selfCommitting: false, on, ct);
        if (_writesCommitAlone && calledStarted) Volatile.Write(ref _claimsInTransaction, 16);
        return claimed;
    }

    async Task<(IReadOnlyList<ClaimedJob> Jobs, bool Refused, bool CalledStarted)> ClaimAsync(ClaimRequest request, bool selfCommitting,
        KeptConnection? on, CancellationToken ct)
    {
        await using var tx = await BeginAsync(request.Now, ct, selfCommitting, on);
        var (claimed, refused) = await driver.ClaimAsync(tx, request, ct);
        if (claimed.Count == 0) return ([], refused, false);
        await ApplyAsync(tx, claimed.Select(c => c.Row).ToList(), r => Story.StoredBySql(r, Story.ClaimedTemplate, tx.Now), ct, stored: true);
        await tx.CommitAsync(ct);
        return (claimed.Select(c => new ClaimedJob(c.Row.Id, c.Row.Type, c.Payload, c.Row.Attempt, c.Row.MaxAttempts, c.HasCallbackUrl, c.Row.EventSeq)).ToList(), false,
            claimed.Any(c => c.Row.HasCallback));
    }

    /// <summary>
    /// An idle worker's first job waited for the runtime to compile the code behind its claim (the
    /// driver's statements and converters, the events, the hooks): hundreds of methods, about 20 ms
    /// of its 70–90. This runs that path once on a job of its own, in a transaction that is never
    /// committed, so that it is compiled before the first real job arrives: the insert, the claim
    /// and the completion of a job of a type no handler can have, with their events and hooks.
    /// Nothing of it is ever seen: no row, no event, no notice, no metric (those are sent after a commit).
    /// </summary>
    /// <param name="on">The claims' kept connection: its server backend is the one that plans them.</param>
    public async Task RehearseAsync(string workerId, CancellationToken ct, KeptConnection? on = null)
    {
        const string type = "$rehearsal"; // not a valid type name (JobTypeName): no real claim asks for it
        await using var tx = await BeginAsync(Now, ct, kept: on);
        var job = new Job
        {
            // The highest priority puts it first in the claim's index order, ahead of any backlog of other types.
            Id = Observability.JobIds.New(), Type = type, Status = JobStatus.Pending, Payload = "{}", MaxAttempts = 1, EventSeq = 1,
            Priority = int.MaxValue, Message = "Waiting for a worker", RunAt = tx.Now, CreatedAt = tx.Now, UpdatedAt = tx.Now,
        };
        const string source = "the worker's rehearsal";
        await driver.InsertJobsAsync(tx, [job], source, ct);
        await ApplyAsync(tx, [CreatedChange(job, tx.Now)], stored: true, ct);
        var request = new ClaimRequest(workerId, 1, [new TypeQuota([type], 1)], tx.Now, tx.Now.AddMinutes(1));
        var claimed = (await driver.ClaimAsync(tx, request, ct)).Jobs.Select(c => c.Row).ToList();
        await ApplyAsync(tx, claimed, r => Story.StoredBySql(r, Story.ClaimedTemplate, tx.Now), ct, stored: true);
        var rows = await driver.CompleteAsync(tx, claimed.Select(r => new Completion(new JobLease(r.Id, r.Attempt, workerId), "{}", HasCallback: false)).ToList(), ct);
        await ApplyAsync(tx, rows, r => Story.StoredBySql(r, Story.CompletedTemplate, tx.Now), ct, stored: true);
        if (rows.Count != 1) throw new InvalidOperationException($"The rehearsal's job was not claimed and completed ({claimed.Count} claimed, {rows.Count} completed).");
    } // disposed uncommitted: rolled back

    /// <summary>
    /// Writes many completions in one statement, each fenced on its own lease; returns the ids
    /// written. When none of the jobs has a callback (so no webhook outbox row is due) and no hook
    /// writes for such jobs, that statement, with the events it appends, is the whole transition:
    /// it commits by itself, one round trip instead of two (the statement, then COMMIT), where the
    /// driver's completion is one statement (PostgreSQL); docs/benchmarks.md has the figures.
    /// </summary>
    public async Task<IReadOnlySet<Guid>> CompleteAsync(IReadOnlyList<Completion> completions, CancellationToken ct, KeptConnection? on = null)
    {
        if (completions.Count == 0) return new HashSet<Guid>();
        var alone = _writesCommitAlone && completions.All(c => !c.HasCallback);
        await using var tx = await BeginAsync(Now, ct, selfCommitting: alone, on);
        var rows = await driver.CompleteAsync(tx, completions, ct);
        await ApplyAsync(tx, rows, r => Story.StoredBySql(r, Story.CompletedTemplate, tx.Now), ct, stored: true);
        await tx.CommitAsync(ct);
        return IdsOf(rows);
    }

    /// <summary>The rows' ids, sized once (a batch is up to a thousand jobs).</summary>
    static HashSet<Guid> IdsOf(IReadOnlyList<JobRow> rows)
    {
        var ids = new HashSet<Guid>(rows.Count);
        for (var i = 0; i < rows.Count; i++) ids.Add(rows[i].Id);
        return ids;
    }

    /// <summary>
    /// What running jobs report, many jobs in one transaction: one fenced update for all of them
    /// (progress only moves up within an attempt, in SQL too, so a late write never moves the bar
    /// back; a message of null keeps the last; the partial text changes only the event seq), then
    /// their events in one insert, each job's in order: progress, output, usage, log line. Returns the
    /// jobs written: a job not among them lost its lease, and nothing of it was written or told.
    /// </summary>
    public async Task<IReadOnlySet<Guid>> WriteRunningAsync(IReadOnlyList<RunningWrite> writes, CancellationToken ct, KeptConnection? on = null)
    {
        if (writes.Count == 0) return new HashSet<Guid>();
        await using var tx = await BeginAsync(Now, ct, kept: on);
        var rows = await driver.WriteRunningAsync(tx, writes, ct);
        var asked = writes.ToDictionary(w => w.Lease.JobId);
        var changes = new List<AppliedChange>(rows.Count * 2);
        foreach (var row in rows)
        {
            var write = asked[row.Id];
            var seq = row.EventSeq - write.Events; // the row returns the last seq taken; its events take the ones before, in order
            void Add(Func<JobRow, JobEvent> story)
            {
                var at = row with { EventSeq = ++seq };
                changes.Add(new AppliedChange(at, story(at)));
            }
            if (write.Progress is { } progress) Add(r => Story.Progress(r, tx.Now, progress.Tokens));
            if (write.Output is { } output) Add(r => Story.Output(r, tx.Now, output.Offset, output.Text));
            if (write.Usage is { } usage) Add(r => Story.Usage(r, tx.Now, usage.Call));
            if (write.Log is { } line) Add(r => Story.Log(r, tx.Now, line.Level, line.Message, line.Span));
        }
        if (changes.Count > 0) await ApplyAsync(tx, changes, stored: false, ct);
        await tx.CommitAsync(ct);
        return IdsOf(rows);
    }

    /// <summary>
    /// A line in a job's log from outside its run (a webhook delivered or given up), whatever its
    /// status; false when the job is gone. Its events stream like any other.
    /// </summary>
    public async Task<bool> NoteAsync(Guid jobId, string level, string message, CancellationToken ct)
    {
        await using var tx = await BeginAsync(Now, ct);
        var rows = await UpdateAsync(tx, $"""
            UPDATE jobs SET event_seq = event_seq + 1 WHERE id = @id
            RETURNING {JobRow.Columns}
            """, ct, ("id", jobId));
        await ApplyAsync(tx, rows, r => Story.Log(r, tx.Now, level, message, Story.RecordedSpan()), ct);
        // A claim meanwhile skipped the row this held locked (SKIP LOCKED): a pending job is offered
        // again at once, not at the next poll.
        if (rows is [{ Status: JobStatus.Pending }]) tx.AfterCommit(() => driver.Notifier.Publish(new Notice.JobsAvailable()));
        await tx.CommitAsync(ct);
        return rows.Count == 1;
    }

    /// <summary>Ends the attempt failed or cancelled (a cancel honoured), keeping its progress.</summary>
    public async Task<JobRow?> FinishAsync(JobLease lease, JobStatus status, string message, string? error, string line, CancellationToken ct)
    {
        var rows = await FencedRowsAsync(lease, Now, """
            status = @status, message = @message, error = @error, completed_at = @now, updated_at = @now, locked_by = NULL, locked_until = NULL
            """, (r, now) => Story.Finished(r, now, line), ct, ("status", status.ToName()), ("message", message), ("error", error));
        return rows.SingleOrDefault();
    }

    /// <summary>Back to pending, due after <paramref name="delay"/>; the attempt stays spent. A cancel asked for meanwhile wins.</summary>
    public async Task<JobRow?> RetryLaterAsync(JobLease lease, TimeSpan delay, string message, string error, CancellationToken ct)
    {
        var now = Now; // one clock reading: updated_at + delay is run_at
        var rows = await FencedRowsAsync(lease, now, $"""
            status = {CancelWins("'pending'")}, {EndedIfCancelled},
            message = CASE WHEN cancel_requested THEN 'Cancelled' ELSE @message END,
            error = @error, run_at = @run_at, updated_at = @now, locked_by = NULL, locked_until = NULL
            """, (r, at) => Story.RetryScheduled(r, at, error), ct,
            ("message", message), ("error", error), ("run_at", now + delay));
        return rows.SingleOrDefault();
    }

    /// <summary>
    /// What the job's earlier attempts kept (<see cref="Handlers.IJobContext.KeepAsync"/>), for the
    /// attempt that holds it: null when nothing was kept (or the lease is no longer its own). A read:
    /// what is kept is written with a log line (<see cref="WriteRunningAsync"/>).
    /// </summary>
    public async Task<string?> ReadKeptAsync(JobLease lease, CancellationToken ct) =>
        (await connections.QueryAsync($"SELECT checkpoint FROM jobs WHERE {Fenced}", r => r.IsDBNull(0) ? null : r.GetString(0), ct, driver,
            ("id", lease.JobId), ("attempt", lease.Attempt), ("worker", lease.WorkerId))).SingleOrDefault();

    /// <summary>
    /// Shutdown, or slots that stayed busy: back to pending at once, and the attempt is given back
    /// (it was not the job's fault), keeping its place in the queue (its run_at) as a rescued job
    /// does. A cancel wins.
    /// </summary>
    public async Task<JobRow?> HandBackAsync(JobLease lease, CancellationToken ct, bool slotsBusy = false)
    {
        var rows = await FencedRowsAsync(lease, Now, HandBackSet,
            (r, now) => Story.HandedBack(r, now, lease.WorkerId, slotsBusy ? HandBack.SlotsBusy : HandBack.Shutdown), ct,
            ("message", slotsBusy ? HandedBackSlotsBusy : HandedBackAtShutdown));
        return rows.SingleOrDefault();
    }

    /// <summary>
    /// A service the job needs is down (<see cref="Handlers.ServiceUnavailableJobException"/>): handed
    /// back as at shutdown, the attempt given back, but due no sooner than <paramref name="after"/>,
    /// its message saying why (<see cref="WaitingForAService"/>). A cancel wins.
    /// </summary>
    public async Task<JobRow?> HandBackUnavailableAsync(JobLease lease, TimeSpan after, string why, CancellationToken ct)
    {
        var now = Now; // one clock reading: updated_at + after is run_at
        var rows = await FencedRowsAsync(lease, now, $"{HandBackSet}, run_at = @run_at",
            (r, at) => Story.HandedBack(r, at, lease.WorkerId, HandBack.Unavailable), ct,
            ("message", (WaitingForAService + why).Clip(500)), ("run_at", now + after));
        return rows.SingleOrDefault();
    }

    /// <summary>
    /// The jobs waiting for a service (<see cref="HandBackUnavailableAsync"/>) whose reason starts
    /// with <paramref name="why"/> are due now: the service answers again (a model provider's
    /// breaker closed) before their wait ended. Returns how many.
    /// </summary>
    public async Task<int> ReleaseWaitingAsync(string why, CancellationToken ct)
    {
        var prefix = WaitingForAService + why;
        await using var tx = await BeginAsync(Now, ct);
        // substr counts characters (code points) on both databases, not .NET's UTF-16 units.
        var rows = await UpdateAsync(tx, $"""
            UPDATE jobs SET run_at = @now, message = '{DueAgain}', updated_at = @now, event_seq = event_seq + 1
            WHERE status = 'pending' AND run_at > @now AND substr(message, 1, {prefix.EnumerateRunes().Count()}) = @prefix
            RETURNING {JobRow.Columns}
            """, ct, ("prefix", prefix));
        await ApplyAsync(tx, rows, r => Story.DueAgain(r, tx.Now), ct);
        if (rows.Count > 0) tx.AfterCommit(() => driver.Notifier.Publish(new Notice.JobsAvailable()));
        await tx.CommitAsync(ct);
        return rows.Count;
    }

    static readonly string HandBackSet = $"""
        status = {CancelWins("'pending'")}, {EndedIfCancelled}, attempt = attempt - 1, progress = 0,
        message = CASE WHEN cancel_requested THEN 'Cancelled' ELSE @message END,
        updated_at = @now, locked_by = NULL, locked_until = NULL
        """;

    /// <summary>The message a job cancelled while pending is left with: before its first attempt, or between attempts (metrics count neither as an attempt's end).</summary>
    public const string CancelledBeforeStart = "Cancelled before it started", CancelledWaitingToRunAgain = "Cancelled while waiting to run again";

    /// <summary>The message a handed-back job is left with (metrics and webhooks tell a hand-back by it: <see cref="IsHandBack"/>).</summary>
    public const string HandedBackAtShutdown = "Handed back by a worker that was shutting down",
        HandedBackSlotsBusy = "Handed back by a worker whose slots stayed busy";

    /// <summary>How the message of a job handed back to wait for a service starts; the reason follows.</summary>
    public const string WaitingForAService = "Waiting for a service it needs: ";

    /// <summary>The message of a job that waited for a service and is due again (<see cref="ReleaseWaitingAsync"/>).</summary>
    public const string DueAgain = "Due again: the service it waited for answers";

    /// <summary>Whether this row was just handed back (<see cref="HandBackAsync"/>, <see cref="HandBackUnavailableAsync"/>): pending again, its attempt given back.</summary>
    public static bool IsHandBack(JobRow row) => row.Status == JobStatus.Pending
        && (row.Message is HandedBackAtShutdown or HandedBackSlotsBusy || row.Message?.StartsWith(WaitingForAService, StringComparison.Ordinal) == true);

    /// <summary>
    /// Extends the leases of the jobs this worker runs (<paramref name="ids"/>) and returns those
    /// it still holds, with their cancel flags (how a cancel reaches a worker without a
    /// notification). Only the listed jobs are renewed: a row claimed by a statement whose answer
    /// never arrived (a dropped connection) is not kept alive, so its lease runs out and it is rescued.
    /// The worker's other batch writes (completions, progress) run beside it on their own
    /// connections and lock some of the same rows, in whatever order their plans visit them: so
    /// that none of them waits for another in a cycle (a deadlock, which PostgreSQL breaks after a
    /// second by failing one: seen within seconds with hundreds of streaming jobs,
    /// docs/benchmarks.md), the renewal of many jobs passes over rows another write holds, and
    /// renews those one job at a time afterwards (each waits for the write, holding nothing else).
    /// Completions and progress writes never share a job (a job's last progress is written before
    /// its outcome is queued; <see cref="Worker.JobContext.WritesDoneAsync"/>). The API's bulk
    /// actions can still meet a progress batch or a completion in a cycle: one of the two fails and
    /// runs again (<see cref="Api.BulkJobsApi"/>; a progress write keeps what it carried for the next).
    /// If a single renewal fails, the whole call throws and the worker keeps its earlier view of the
    /// leases until the next heartbeat (the batch's renewals stand in the database).
    /// </summary>
    public async Task<IReadOnlyList<HeldJob>> RenewLeasesAsync(string workerId, IReadOnlyCollection<Guid> ids, DateTime until, CancellationToken ct)
    {
        if (ids.Count == 0) return [];
        var held = new List<HeldJob>(ids.Count);
        await using (var tx = await BeginAsync(Now, ct))
        {
            held.AddRange(await driver.RenewLeasesAsync(tx, workerId, ids, until, ct, skipBusy: ids.Count > 1));
            await tx.CommitAsync(ct);
        }
        if (held.Count == ids.Count) return held;
        var renewed = held.Select(h => h.Id).ToHashSet();
        foreach (var id in ids.Where(id => !renewed.Contains(id)).ToList()) // busy, or lost
        {
            await using var tx = await BeginAsync(Now, ct);
            held.AddRange(await driver.RenewLeasesAsync(tx, workerId, [id], until, ct));
            await tx.CommitAsync(ct);
        }
        return held;
    }

    /// <summary>
    /// Rescues up to 100 jobs whose lease expired. A job whose worker crashed is not to blame: it
    /// goes back to pending keeping its place in the queue (its run_at); but one that has lost
    /// its worker more than <paramref name="maxRescues"/> times is the job that keeps killing
    /// workers, and fails, as does one with no attempt left. A cancel wins. Each update repeats
    /// the expiry it saw, so a renewal or another node's rescue in between wins and this one changes nothing.
    /// </summary>
    public async Task<int> RescueExpiredAsync(int maxRescues, CancellationToken ct)
    {
        var now = Now;
        var expired = await connections.QueryAsync("""
                SELECT id, attempt, locked_by FROM jobs WHERE status = 'running' AND locked_until < @now ORDER BY locked_until LIMIT 100
                """, r => (r.GetGuid(0), r.GetInt32(1), r.IsDBNull(2) ? (string?)null : r.GetString(2)), ct, driver, ("now", now)); // a read: no transition, no write lock
        var rescued = 0;
        foreach (var (id, attempt, worker) in expired)
        {
            var why = $"The lease of attempt {attempt} expired: worker {worker} stopped renewing it (crashed, killed or cut off).";
            await using var tx = await BeginAsync(now, ct);
            var rows = await UpdateAsync(tx, $"""
                UPDATE jobs SET
                    status = {CancelWins("CASE WHEN rescue_count + 1 > @max_rescues OR attempt >= max_attempts THEN 'failed' ELSE 'pending' END")},
                    rescue_count = rescue_count + 1,
                    error = CASE WHEN cancel_requested THEN NULL ELSE @why END,
                    message = CASE WHEN cancel_requested THEN 'Cancelled (its worker had stopped)'
                        WHEN rescue_count + 1 > @max_rescues THEN 'Failed: it lost its worker ' || (rescue_count + 1) || ' times'
                        WHEN attempt >= max_attempts THEN 'Failed: its worker stopped'
                        ELSE 'Waiting to run again: its worker stopped' END,
                    completed_at = CASE WHEN cancel_requested OR rescue_count + 1 > @max_rescues OR attempt >= max_attempts THEN @now ELSE NULL END,
                    updated_at = @now, locked_by = NULL, locked_until = NULL, event_seq = event_seq + 1
                WHERE id = @id AND status = 'running' AND attempt = @attempt AND locked_until < @now
                RETURNING {JobRow.Columns}
                """, ct, ("id", id), ("attempt", attempt), ("why", why), ("max_rescues", maxRescues));
            if (rows.Count == 0) continue;
            await ApplyAsync(tx, rows, r => Story.Rescued(r, tx.Now, $"{why} {r.Message}."), ct);
            tx.AfterCommit(() => driver.Notifier.Publish(new Notice.JobsAvailable()));
            await tx.CommitAsync(ct);
            rescued++;
        }
        return rescued;
    }

    /// <summary>
    /// Retention: deletes up to <paramref name="batch"/> jobs finished with this status before the
    /// cutoff, oldest first, with their events and webhook deliveries. A job whose webhook is still
    /// to be sent (a retry waiting, however long its receiver's Retry-After) waits for it: deleting
    /// it dropped the delivery without a word.
    /// </summary>
    public async Task<int> DeleteFinishedAsync(JobStatus status, DateTime cutoff, int batch, CancellationToken ct)
    {
        await using var tx = await BeginAsync(Now, ct);
        var rows = await UpdateAsync(tx, $"""
            DELETE FROM jobs WHERE id IN (
                SELECT id FROM jobs WHERE status = @status AND completed_at < @cutoff
                    AND NOT EXISTS (SELECT 1 FROM webhook_deliveries AS d WHERE d.job_id = jobs.id AND d.status = 'pending')
                ORDER BY completed_at LIMIT @batch)
            AND status = @status
            RETURNING {JobRow.Columns}
            """, ct, ("status", status.ToName()), ("cutoff", cutoff), ("batch", batch));
        await DeleteEventsOfAsync(tx, rows, ct);
        await ApplyAsync(tx, rows, _ => null, ct);
        await tx.CommitAsync(ct);
        return rows.Count;
    }

    /// <summary>
    /// Deleted jobs' events go with them, in their transaction: job_events has no foreign key to
    /// jobs (why: JobsDbContext's model of job_events), so nothing cascades. The jobs' rows go
    /// first: a transition waiting on one then finds nothing to change and appends nothing.
    /// </summary>
    async Task DeleteEventsOfAsync(TransitionTx tx, IReadOnlyList<JobRow> deleted, CancellationToken ct)
    {
        if (deleted.Count == 0) return;
        await using var command = tx.Command($"DELETE FROM job_events WHERE {driver.IdIn("ids", "job_id")}");
        driver.Bind(command, "ids", driver.Ids(deleted.Select(r => r.Id)));
        await command.ExecutePreparedAsync(ct);
    }

    /// <summary>
    /// Drops the progress and output events of up to <paramref name="batch"/> jobs that ended before
    /// the cutoff, the next after <paramref name="after"/> in (completed_at, id) order: the result
    /// holds the final text. Returns the last job it took, or null when none was left: the caller
    /// goes on from there (taking the oldest jobs each time, it took the same ones for ever, and
    /// no job past the first batch was ever compacted).
    /// </summary>
    public async Task<(DateTime CompletedAt, Guid Id)?> CompactEventsAsync(DateTime cutoff, (DateTime CompletedAt, Guid Id)? after, int batch,
        CancellationToken ct)
    {
        await using var tx = await BeginAsync(Now, ct);
        await using var select = tx.Command($"""
            SELECT completed_at, id FROM jobs
            WHERE status IN ({FinishedStates}) AND completed_at < @cutoff AND (completed_at, id) > (@after_at, @after_id)
            ORDER BY completed_at, id LIMIT @batch
            """);
        driver.Bind(select, "cutoff", cutoff);
        driver.Bind(select, "after_at", after?.CompletedAt ?? DateTime.UnixEpoch);
        driver.Bind(select, "after_id", after?.Id ?? Guid.Empty);
        driver.Bind(select, "batch", batch);
        var taken = await tx.RowsAsync(select, r => (CompletedAt: JobRow.Utc(r, 0), Id: r.GetGuid(1)), ct);
        if (taken.Count == 0) return null;
        await using var delete = tx.Command($"DELETE FROM job_events WHERE kind IN ('progress', 'output') AND {driver.IdIn("ids", "job_id")}");
        driver.Bind(delete, "ids", driver.Ids(taken.Select(t => t.Id)));
        await delete.ExecutePreparedAsync(ct);
        await tx.CommitAsync(ct);
        return taken[^1];
    }

    // ---- The machinery ----

    /// <summary>A submit that would take a tenant past Tenants:MaxActiveJobs: nothing was stored.</summary>
    public sealed class QuotaExceededException(string tenant, long active, int adding, int max)
        : Exception($"Tenant '{tenant}' has {active} pending or running job(s); {adding} more would pass its quota of {max} (Tenants:MaxActiveJobs).")
    {
        public long Active => active;
        public int Max => max;
    }

    /// <summary>
    /// A transaction on a connection of its own (the worker's transitions, maintenance); or, when
    /// <paramref name="selfCommitting"/>, that connection for one statement that commits by itself.
    /// </summary>
    Task<TransitionTx> BeginAsync(DateTime now, CancellationToken ct, bool selfCommitting = false, KeptConnection? kept = null) =>
        TransitionTx.BeginAsync(connections, driver, now, selfCommitting, ct, kept);

    /// <summary>A connection for one caller to keep between its claims (<see cref="KeptConnection"/>); the caller disposes it.</summary>
    public KeptConnection KeepConnection() => new(connections);

    /// <summary>UPDATE … SET <paramref name="set"/> on a job this worker holds, taking the next event seq, and the event it describes.</summary>
    async Task<IReadOnlyList<JobRow>> FencedRowsAsync(JobLease lease, DateTime now, string set, Func<JobRow, DateTime, JobEvent> describe,
        CancellationToken ct, params (string Name, object? Value)[] parameters)
    {
        await using var tx = await BeginAsync(now, ct);
        var rows = await UpdateAsync(tx, $"""
            UPDATE jobs SET {set}, event_seq = event_seq + 1
            WHERE {Fenced}
            RETURNING {JobRow.Columns}
            """, ct, [("id", lease.JobId), ("attempt", lease.Attempt), ("worker", lease.WorkerId), .. parameters]);
        if (rows.Count == 0) return rows; // the lease is lost: nothing changed, nothing is told
        await ApplyAsync(tx, rows, r => describe(r, tx.Now), ct);
        await tx.CommitAsync(ct);
        return rows;
    }

    async Task<List<JobRow>> UpdateAsync(TransitionTx tx, string sql, CancellationToken ct, params (string Name, object? Value)[] parameters)
    {
        await using var command = tx.Command(sql);
        driver.Bind(command, "now", tx.Now);
        foreach (var (name, value) in parameters) driver.Bind(command, name, value);
        return await tx.RowsAsync(command, JobRow.Read, ct);
    }

    /// <summary>
    /// Appends the events describing the changed rows (unless the transition's statement
    /// <paramref name="stored"/> them already), runs the hooks, and tells every node after the commit.
    /// </summary>
    Task ApplyAsync(TransitionTx tx, IReadOnlyList<JobRow> rows, Func<JobRow, JobEvent?> describe, CancellationToken ct, bool stored = false) =>
        rows.Count == 0 ? Task.CompletedTask : ApplyAsync(tx, rows.Select(r => new AppliedChange(r, describe(r))).ToList(), stored, ct);

    /// <param name="sentWithCommit">The statement that stored the events notified every node of them (<see cref="IJobDriver.InsertJobsAsync"/>).</param>
    async Task ApplyAsync(TransitionTx tx, IReadOnlyList<AppliedChange> changes, bool stored, CancellationToken ct, bool sentWithCommit = false)
    {
        var events = changes.Where(c => c.Event is not null).Select(c => c.Event!).ToList();
        if (!stored) await driver.InsertEventsAsync(tx, events, ct);
        foreach (var hook in _hooks) await hook.OnAppliedAsync(tx, changes, ct);
        if (events.Count > 0)
            tx.AfterCommit(() => { foreach (var e in events) driver.Notifier.Publish(new Notice.EventsAppended(e.JobId, e.Seq, sentWithCommit)); });
    }

    static AppliedChange CreatedChange(Job j, DateTime now)
    {
        var row = JobRowOf(j);
        return new AppliedChange(row, Story.StoredBySql(row, Story.CreatedTemplate, now));
    }

    static JobRow JobRowOf(Job j) => new(j.Id, j.Type, j.Status, j.Attempt, j.MaxAttempts, j.EventSeq, j.CancelRequested, j.Progress,
        j.Message, j.Error, j.RunAt, j.StartedAt, j.CompletedAt, j.LockedBy, j.CallbackUrl is not null);
}
