using JobService.Data;
using JobService.Events;
using JobService.Handlers;
using JobService.Transitions;
using JobService.Hosting;
using Microsoft.Extensions.Options;

namespace JobService.Worker;

/// <summary>
/// One worker process's loop: claim as many due jobs as it has free slots (one statement),
/// run each, and wait for a wake-up, a freed slot or the poll interval. Beside it, on timers
/// that do not depend on any handler: the heartbeat renews every lease it holds, and the
/// progress flusher writes coalesced progress. On stop it claims nothing new, gives running
/// jobs the grace period, then hands back what is left.
/// </summary>
public sealed class JobWorker(
    JobTransitions transitions,
    JobRunner runner,
    CompletionBatcher completions,
    ProgressBatcher progressWrites,
    RunningJobs running,
    JobWakeup wakeup,
    JobTypeRegistry registry,
    TimeProvider time,
    DatabaseReady database,
    IOptions<WorkerOptions> options,
    IOptions<EventsOptions> events,
    IOptions<Auth.TenantOptions> tenants,
    Observability.TraceParents traceParents,
    PausedTypes paused,
    WorkerHeartbeats heartbeats,
    IHostApplicationLifetime lifetime,
    ILogger<JobWorker> log) : BackgroundService
{
    readonly WorkerOptions _options = options.Value;
    readonly EventsOptions _events = events.Value;
    const int MaxClaimBackoffMs = 2_000;
    volatile bool _draining;
    int _returnedDuringLastClaim; // as many may free during the next
    readonly JobWakeup _outcomeWritten = new(); // signalled only under the tenants' cap, which counts outcomes written
    bool TenantsCapped => tenants.Value.MaxRunningPerTenant > 0;
    readonly KeptConnection _claimConnection = transitions.KeepConnection(); // every claim on one server backend

    /// <summary>Unique per process start: a restarted worker never mistakes its old leases for its own.</summary>
    public string WorkerId { get; } = $"{Environment.MachineName}/{Environment.ProcessId}/{Guid.NewGuid().ToString("N")[..8]}";

    protected override async Task ExecuteAsync(CancellationToken stoppingService)
    {
        // The stop begins when the host's does, not when this service's turn comes: the web server
        // stops first and may wait its whole timeout for open requests, and this worker would claim
        // meanwhile and meet its own stop with the host's time already spent, too late to hand back.
        using var stopped = CancellationTokenSource.CreateLinkedTokenSource(stoppingService, lifetime.ApplicationStopping);
        var stopping = stopped.Token;
        _ = Task.Run(PrepareRuns, CancellationToken.None); // while the database is waited for
        if (!await database.WaitAsync(stopping)) return;
        // Never a claim of a paused type because this worker has only just started.
        try { await paused.FirstRead.WaitAsync(stopping); } catch (OperationCanceledException) { return; }
        transitions.Driver.Notifier.Received += OnNotice;
        log.LogInformation("Worker {WorkerId} started: {Concurrency} slots, types {Types}", WorkerId, _options.Concurrency, registry.Names);
        await BeatQuietlyAsync(); // listed in workers at once, not a heartbeat later
        using var background = new CancellationTokenSource();
        var batcher = completions.RunAsync();
        var progressWriter = progressWrites.RunAsync();
        var heartbeat = Periodic.RunAsync("The heartbeat", TimeSpan.FromSeconds(_options.HeartbeatSeconds), startAtOnce: false,
            HeartbeatAsync, time, log, background.Token);
        var flusher = Periodic.RunAsync("Writing progress", TimeSpan.FromMilliseconds(Math.Min(_options.ProgressIntervalMs, _events.OutputFlushMs)), startAtOnce: false,
            FlushProgressAsync, time, log, background.Token);
        try
        {
            await ClaimLoopAsync(stopping);
        }
        finally
        {
            await _claimConnection.DisposeAsync();
            _draining = true;
            // Jobs claimed ahead that have not started go back at once: none starts from here on.
            foreach (var run in running.Close()) run.Stop(StopReason.Shutdown);
            await BeatQuietlyAsync(); // shown draining while running jobs get their grace period
            await DrainAsync();
            completions.Stop();
            await batcher;
            await background.CancelAsync();
            await Task.WhenAll(heartbeat, flusher);
            progressWrites.Stop(); // after the last job and the last flush
            await progressWriter;
            try { await heartbeats.GoneAsync(WorkerId, CancellationToken.None); }
            catch (Exception e) { log.LogWarning("Removing worker {WorkerId} from the workers table failed: {Error}", WorkerId, DatabaseErrors.OneLine(e)); }
            transitions.Driver.Notifier.Received -= OnNotice;
            log.LogInformation("Worker {WorkerId} stopped", WorkerId);
        }
    }

    async Task ClaimLoopAsync(CancellationToken stopping)
    {
        // No jitter before the first claim: claims of a fleet started together take disjoint rows
        // (SKIP LOCKED; SQLite's write lock takes them in turn), as the claims of every worker
        // woken by one notice do. The error backoff below is wall-clock time, not the job clock.
        var failures = 0;
        var claimedOnce = false;
        while (!stopping.IsCancellationRequested)
        {
            // Taken before looking for work, so that a signal sent after the look is not lost.
            var woken = wakeup.Next;
            var freed = running.SlotFreed;
            var written = _outcomeWritten.Next;
            var room = claimedOnce
                ? running.ClaimRoom(_returnedDuringLastClaim) // a slot frees when its handler returns, while the outcome is written
                : running.FirstClaimRoom;
            var claim = new ClaimTaken(0, false, false);
            if (room > 0)
            {
                try
                {
                    claim = await ClaimAndStartAsync(room);
                    failures = 0;
                    if (!claimedOnce) await RehearseIfIdleAsync(claim.Count, stopping);
                    claimedOnce = true; // after the first claim that worked
                }
                catch (Exception e) when (!stopping.IsCancellationRequested)
                {
                    // The database is away: back off a little, but never for long (recovery must not wait
                    // on this), and claim at once when a notification says it is back.
                    failures++;
                    var wait = ClaimBackoff(failures);
                    if (DatabaseErrors.IsUnavailable(e))
                        log.LogWarning("Claiming failed ({Failures} in a row): {Error}; next try in {Wait}", failures, DatabaseErrors.OneLine(e), wait);
                    else
                        log.LogWarning(e, "Claiming failed ({Failures} in a row); next try in {Wait}", failures, wait);
                    await Task.WhenAny(Task.Delay(wait, stopping), woken);
                    continue;
                }
            }
            if (room > 0 && claim.Count == room) continue; // a full batch: there may be more waiting now
            // What can bring more: news (a notice of new work) and the poll (work come due), always.
            // A slot that frees, when there was no room or a type's own limit held the claim back
            // (its running jobs are counted here, and a handler that returns lifts it); no pause to
            // gather freed slots: they free as handlers return, so the slots that free during one
            // claim's round trip are what the next claim fills. An outcome written, when the
            // tenants' cap held it back: that counts the jobs' rows. A claim that took fewer jobs
            // than it had room for with no cap found every due job there was: woken by each freed
            // slot, a worker fed one job at a time claimed twice a job, once for nothing.
            var news = new List<Task>(4) { woken, Delay(TimeSpan.FromMilliseconds(_options.PollIntervalMs), stopping) };
            if (room == 0 || claim.TypeCapped) news.Add(freed);
            if (claim.TenantCapped) news.Add(written);
            await Task.WhenAny(news);
        }
    }

    /// <summary>
    /// Claims up to <paramref name="room"/> jobs: the free slots, plus as many as handlers returned
    /// during the previous claim's round trip (<see cref="RunningJobs.ClaimRoom"/>). Those wait for
    /// a slot here instead of for another claim, so short jobs come in larger batches; long ones
    /// (an LLM call) rarely return during a claim, so a busy worker does not take work another
    /// could start.
    /// </summary>
    async Task<ClaimTaken> ClaimAndStartAsync(int room)
    {
        var (quotas, aTypeIsFull) = Quotas(room);
        if (quotas.Count == 0) return new(0, aTypeIsFull, TenantsCapped);
        var now = time.GetUtcNow().UtcDateTime;
        var leaseUntil = now.AddSeconds(_options.LeaseSeconds);
        var returned = running.Returned;
        // Not cancelled by the stop: a claim cut off after its commit would leave rows this
        // worker holds without knowing it. What it returns runs, or is handed back by the drain.
        var jobs = await transitions.ClaimAsync(new ClaimRequest(WorkerId, room, quotas, now, leaseUntil, tenants.Value.MaxRunningPerTenant), CancellationToken.None, _claimConnection);
        _returnedDuringLastClaim = (int)(running.Returned - returned);
        var runs = jobs.Select(job => new RunningJob(job, WorkerId, leaseUntil, now)).ToList();
        foreach (var run in runs) running.Add(run); // held, and renewed by the heartbeat, before anything else is awaited
        var links = await traceParents.ForAsync(jobs); // empty unless tracing is on; never throws
        foreach (var run in runs)
            run.Completion = RunAndReleaseAsync(run, links.GetValueOrDefault(run.Job.Id)); // set before it can end: it yields first
        // Only a type's own quota is below the room; the others' is the room, which a claim that took
        // fewer jobs did not fill.
        return new(jobs.Count, aTypeIsFull || quotas.Any(q => q.Limit < room && jobs.Count(j => q.Types.Contains(j.Type)) == q.Limit), TenantsCapped);
    }

    /// <summary>
    /// What a claim took, and which cap may have held it back: a type's own limit, which its jobs had
    /// reached or the claim filled, or the tenants' (MaxRunningPerTenant). A type of its own rather
    /// than a tuple: the ReadyToRun image holds the framework's task code over it (over a tuple of
    /// the framework's types, five more methods were JIT-compiled at the first claim).
    /// </summary>
    readonly record struct ClaimTaken(int Count, bool TypeCapped, bool TenantCapped);

    /// <summary>
    /// What each type's runs need (its payload reader and its handler's factory, <see
    /// cref="JobTypeDefinition.PrepareRun"/>), built once at the start while the worker waits for
    /// the database, when a core is mostly idle: a worker that starts on a backlog built them under
    /// its first job of each type (its handler started ~9 ms later, docs/benchmarks.md,
    /// thirty-third session). Only a warm-up: a payload type it cannot read, or a handler it cannot
    /// make, fails its jobs with the reason, as it did.
    /// </summary>
    void PrepareRuns()
    {
        foreach (var type in registry.All)
        {
            try { type.PrepareRun(); }
            catch (Exception e) { log.LogDebug("Preparing the runs of {Type} failed: {Error}", type.Name, e.Message); }
        }
    }

    /// <summary>
    /// A worker that found nothing to do at its first claim runs its hot path once, rolled back
    /// (<see cref="JobTransitions.RehearseAsync"/>), so that the first job does not wait for it to
    /// be compiled (an idle worker's first job waited 70–90 ms), and reads a payload of each type
    /// beside it (<see cref="JobTypeDefinition.RehearseRead"/>). One that found work at once has
    /// no use for either: the real jobs do it.
    /// </summary>
    async Task RehearseIfIdleAsync(int claimed, CancellationToken stopping)
    {
        if (claimed > 0) return;
        _ = Task.Run(() => { foreach (var type in registry.All) type.RehearseRead(); }, CancellationToken.None);
        var started = System.Diagnostics.Stopwatch.GetTimestamp();
        try
        {
            await transitions.RehearseAsync(WorkerId, stopping, _claimConnection);
            log.LogDebug("Rehearsed the claim and completion path in {Ms:0} ms", System.Diagnostics.Stopwatch.GetElapsedTime(started).TotalMilliseconds);
        }
        catch (Exception e)
        {
            // Only a warm-up, also when stopped midway: the next claim meets whatever went wrong here, and reports it.
            log.LogDebug("The rehearsal failed: {Error}", DatabaseErrors.OneLine(e));
        }
    }

    /// <summary>
    /// Unlimited types in one quota; each type with a per-worker limit in its own, sized by its free
    /// slots, or left out with none (said by ATypeIsFull). Paused types (POST /job-types/{type}/pause)
    /// are left out: the claim's SQL never sees them.
    /// </summary>
    (List<TypeQuota> Quotas, bool ATypeIsFull) Quotas(int room)
    {
        var (quotas, aTypeIsFull) = (new List<TypeQuota>(), false);
        var now = time.GetUtcNow().UtcDateTime;
        var types = registry.All.Where(t => !paused.IsPaused(t.Name, now)).ToList();
        var unlimited = types.Where(t => t.Concurrency == 0).Select(t => t.Name).ToList();
        if (unlimited.Count > 0) quotas.Add(new TypeQuota(unlimited, room));
        foreach (var type in types.Where(t => t.Concurrency > 0))
        {
            var free = type.Concurrency - running.CountOfType(type.Name);
            if (free > 0) quotas.Add(new TypeQuota([type.Name], free));
            else aTypeIsFull = true;
        }
        return (quotas, aTypeIsFull);
    }

    async Task RunAndReleaseAsync(RunningJob run, string? traceParent)
    {
        await Task.Yield(); // the claim loop goes on while this runs
        try
        {
            // A job stopped while it waits (cancelled, lease lost, handed back) goes to the runner without a slot, which records only that.
            if (!run.Slot.IsCompleted) await Task.WhenAny(run.Slot, Task.Delay(Timeout.Infinite, run.Token));
            await runner.RunAsync(run, traceParent);
        }
        catch (Exception e)
        {
            log.LogError(e, "Job {JobId} ended with an error in the worker itself", run.Job.Id);
        }
        finally
        {
            running.Remove(run);
            if (TenantsCapped) _outcomeWritten.Signal();
        }
    }

    /// <summary>The heartbeat: jobs claimed ahead that waited too long go back, then leases, then this instance's row in the workers table.</summary>
    async Task HeartbeatAsync(CancellationToken ct)
    {
        // A job claimed ahead that found no slot within a heartbeat (the slots' handlers turned out
        // long) goes back to the queue, where an idle worker can take it.
        var claimedBy = time.GetUtcNow().UtcDateTime.AddSeconds(-_options.HeartbeatSeconds);
        foreach (var run in running.TakeWaiting(claimedBy)) run.Stop(StopReason.SlotsBusy);
        await RenewLeasesAsync(ct);
        await heartbeats.BeatAsync(WorkerId, running.Handling, _draining, ct);
    }

    async Task BeatQuietlyAsync()
    {
        try { await heartbeats.BeatAsync(WorkerId, running.Handling, _draining, CancellationToken.None); }
        catch (Exception e) { log.LogWarning("Writing worker {WorkerId}'s heartbeat row failed: {Error}", WorkerId, DatabaseErrors.OneLine(e)); }
    }

    /// <summary>
    /// Renews every lease this worker holds (<see cref="JobTransitions.RenewLeasesAsync"/>). A job missing from the answer
    /// was lost (rescued after a long pause, or deleted): its handler is stopped. A job whose
    /// cancel flag is set is stopped as cancelled (the only way a cancel reaches a worker
    /// without NOTIFY).
    /// </summary>
    async Task RenewLeasesAsync(CancellationToken ct)
    {
        var before = running.All.ToList(); // only jobs claimed before the renewal can be judged by it
        if (before.Count == 0) return;
        var until = time.GetUtcNow().UtcDateTime.AddSeconds(_options.LeaseSeconds);
        var held = (await transitions.RenewLeasesAsync(WorkerId, before.Select(r => r.Job.Id).ToList(), until, ct)).ToDictionary(h => h.Id);
        foreach (var run in before)
        {
            if (!held.TryGetValue(run.Job.Id, out var h) || h.Attempt != run.Job.Attempt) run.Stop(StopReason.LeaseLost);
            else
            {
                run.LeaseUntil = until;
                if (h.CancelRequested) run.Stop(StopReason.Cancelled);
            }
        }
    }

    /// <summary>After <paramref name="failures"/> failed claims in a row: 0.2 s doubling, never more than 2 s.</summary>
    public static TimeSpan ClaimBackoff(int failures) =>
        TimeSpan.FromMilliseconds(Math.Min(MaxClaimBackoffMs, 100 * Math.Pow(2, Math.Clamp(failures, 1, 10))));

    /// <summary>Notices from every node: new work (or a listener back after an outage) wakes the claim loop; a cancel stops its handler here.</summary>
    void OnNotice(Notice notice)
    {
        switch (notice)
        {
            case Notice.JobsAvailable or Notice.Reconnected: wakeup.Signal(); break;
            case Notice.CancelRequested c: running.Cancel(c.JobId, c.Seq); break;
        }
    }

    Task FlushProgressAsync(CancellationToken ct) =>
        Task.WhenAll(running.All.Select(r => r.Context?.FlushAsync() ?? Task.CompletedTask));

    /// <summary>Stop: wait up to the grace period for running jobs, then stop them to be handed back.</summary>
    async Task DrainAsync()
    {
        // The claim loop has ended, so the set of running jobs only shrinks from here.
        var all = Task.WhenAll(running.All.Select(r => r.Completion).ToList());
        if (all.IsCompleted) return;
        log.LogInformation("Stopping: {Count} held job(s) (running, waiting for a slot or being written) get {Grace} s to finish", running.Count, _options.ShutdownGraceSeconds);
        var grace = Delay(TimeSpan.FromSeconds(_options.ShutdownGraceSeconds), CancellationToken.None);
        if (await Task.WhenAny(all, grace) != all)
        {
            // Said as an intent: each hand-back is its own write, and one that cannot be written
            // (the database away) is logged as left to the rescuer, whose retry spends the attempt.
            log.LogWarning("Grace period over: stopping {Count} job(s) to hand them back without spending their attempt", running.Count);
            foreach (var run in running.All) run.Stop(StopReason.Shutdown);
        }
        await all;
    }

    /// <summary>A delay on the injected clock that ends quietly when cancelled.</summary>
    Task Delay(TimeSpan delay, CancellationToken ct) =>
        Task.Delay(delay, time, ct).ContinueWith(_ => { }, CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
}
