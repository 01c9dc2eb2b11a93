using System.Collections.Concurrent;
using JobService.Transitions;
using Microsoft.Extensions.Options;

namespace JobService.Worker;

/// <summary>Why a running handler's token fired, when it was not the handler's own timeout.</summary>
public enum StopReason
{
    None,
    /// <summary>A user cancelled the job: it ends cancelled.</summary>
    Cancelled,
    /// <summary>This worker no longer holds the job: write nothing more.</summary>
    LeaseLost,
    /// <summary>The worker is stopping and the grace period is over: hand the job back.</summary>
    Shutdown,
    /// <summary>Claimed ahead, it waited too long for a slot: hand it back for another worker.</summary>
    SlotsBusy,
    /// <summary>The handler ran past its type's timeout: the attempt fails, to be retried.</summary>
    TimedOut,
}

/// <summary>One job this process is running: its lease and the token its handler watches.</summary>
public sealed class RunningJob(ClaimedJob job, string workerId, DateTime leaseUntil, DateTime claimedAt)
{
    long _leaseUntil = leaseUntil.Ticks;

    readonly CancellationTokenSource _stop = new();
    readonly TaskCompletionSource _slot = new(TaskCreationOptions.RunContinuationsAsynchronously);
    int _reason, _handlerDone;

    public ClaimedJob Job { get; } = job;
    public DateTime ClaimedAt { get; } = claimedAt;
    public JobLease Lease { get; } = job.Lease(workerId);
    public CancellationToken Token => _stop.Token;
    public StopReason Reason => (StopReason)Volatile.Read(ref _reason);

    /// <summary>Until when the lease is surely this worker's: the claim's, then each successful renewal's.</summary>
    public DateTime LeaseUntil
    {
        get => new(Interlocked.Read(ref _leaseUntil), DateTimeKind.Utc);
        set => Interlocked.Exchange(ref _leaseUntil, value.Ticks);
    }
    public JobContext? Context { get; set; }
    /// <summary>The attempt as the worker runs it, outcome write included; the drain awaits it.</summary>
    public Task Completion { get; set; } = Task.CompletedTask;

    /// <summary>The handler has returned (or been given up on): its slot is free while the outcome is written.</summary>
    public bool HandlerDone => Volatile.Read(ref _handlerDone) == 1;

    /// <summary>Completes when the job is given a slot: at once when one is free at the claim, else when a handler returns.</summary>
    public Task Slot => _slot.Task;

    /// <summary>Set under <see cref="RunningJobs"/>' lock: this job counts as one of the slots taken.</summary>
    internal bool HasSlot { get; private set; }

    internal void GiveSlot()
    {
        HasSlot = true;
        _slot.TrySetResult();
    }

    /// <summary>True the first time only.</summary>
    internal bool MarkHandlerDone() => Interlocked.Exchange(ref _handlerDone, 1) == 0;

    /// <summary>The first reason wins; later ones change nothing.</summary>
    public void Stop(StopReason reason)
    {
        if (Interlocked.CompareExchange(ref _reason, (int)reason, 0) == 0) _stop.Cancel();
    }
}

/// <summary>
/// The jobs this process holds, by id: those whose handler runs (each takes a slot), those claimed
/// ahead and waiting for a slot (a handler that returns hands its slot to the next of them at once,
/// without a claim's round trip), and those whose handler is done while their outcome is being
/// written (no slot: the next job may start, but the lease is still this worker's, renewed by the
/// heartbeat, until the outcome is in). Cancels, heartbeats and shutdown find them here.
/// </summary>
public sealed class RunningJobs(IOptions<WorkerOptions> options)
{
    readonly ConcurrentDictionary<Guid, RunningJob> _jobs = new();
    readonly JobWakeup _slotFreed = new();
    readonly int _slots = options.Value.Concurrency;
    readonly Lock _gate = new();
    Queue<RunningJob> _waiting = new();
    int _handling;
    int _held; // _jobs' entries, kept under the gate: ConcurrentDictionary.Count takes every one of its locks
    long _returned;
    bool _closed;

    /// <summary>Every job held, outcome writes included.</summary>
    public int Count => Volatile.Read(ref _held);

    /// <summary>The jobs held, read without a lock (ConcurrentDictionary.Values copies them under all of its locks).</summary>
    public IEnumerable<RunningJob> All => _jobs.Select(entry => entry.Value);

    /// <summary>Jobs whose handler runs: the slots taken.</summary>
    public int Handling => Volatile.Read(ref _handling);

    /// <summary>Handlers returned since this process started: how fast slots turn over.</summary>
    public long Returned => Interlocked.Read(ref _returned);

    /// <summary>Slots no handler runs in and no claimed job waits for.</summary>
    public int FreeSlots
    {
        get { lock (_gate) return Math.Max(0, _slots - _handling - _waiting.Count); }
    }

    /// <summary>
    /// How many jobs a claim may take: the free slots plus as many as handlers returned during the
    /// previous claim (<paramref name="returnedDuringLastClaim"/>: as many may free during this one),
    /// at most <see cref="AheadPerSlot"/> a slot, while this worker holds at most
    /// <see cref="HeldPerSlot"/> jobs a slot (waiting jobs and outcomes being written included), so
    /// that a slow database slows the claims rather than piling up work.
    /// </summary>
    public int ClaimRoom(int returnedDuringLastClaim) =>
        Math.Max(0, Math.Min(FreeSlots + Math.Min(returnedDuringLastClaim, AheadPerSlot * _slots), MaxHeld - Count));

    /// <summary>
    /// The first claim's room: at most <see cref="FirstClaimMax"/> jobs. A worker started on a
    /// backlog starts no handler until its first claim has returned every row, and that claim runs
    /// its code for the first time in the process: 1,000 rows took 80–100 ms from sending to the
    /// first handler, 250 20–36 ms less. The next claim goes out at once (the first took all it
    /// asked for) and fills the other slots while those run (docs/benchmarks.md, forty-sixth session).
    /// </summary>
    public int FirstClaimRoom => Math.Min(ClaimRoom(0), FirstClaimMax);

    public const int FirstClaimMax = 250;

    /// <summary>
    /// Jobs claimed ahead a slot, at most. Short jobs come in batches of up to 1 + this many a slot;
    /// long ones rarely return during a claim, so they are claimed about one free slot at a time
    /// whatever this is. Why two: docs/benchmarks.md, fifteenth session.
    /// </summary>
    public const int AheadPerSlot = 2;

    /// <summary>
    /// Jobs held a slot, at most: a claim's batch (1 + <see cref="AheadPerSlot"/> a slot) running or
    /// waiting, and under load the outcomes of two more being written (the batch being written and
    /// the one queued behind it, or written beside it when the first is full).
    /// </summary>
    public const int HeldPerSlot = 3 * (1 + AheadPerSlot);

    int MaxHeld => HeldPerSlot * _slots;

    /// <summary>Completes when <see cref="ClaimRoom"/> may have grown. Take it before reading it, like <see cref="JobWakeup.Next"/>.</summary>
    public Task SlotFreed => _slotFreed.Next;

    /// <summary>Holds a claimed job; it gets a slot now if one is free, else it waits for one (<see cref="RunningJob.Slot"/>).</summary>
    public void Add(RunningJob job)
    {
        lock (_gate)
        {
            // Claimed again (handed back, then claimed by this worker) before the earlier run's Remove: one entry, the new run's.
            if (_jobs.TryAdd(job.Job.Id, job)) _held++;
            else _jobs[job.Job.Id] = job;
            if (_handling < _slots && _waiting.Count == 0) Take(job);
            else _waiting.Enqueue(job);
        }
    }

    /// <summary>
    /// The handler is done (or never started: the job was stopped while it waited): its slot, if it
    /// had one, goes to the next waiting job, though this job stays held until <see cref="Remove"/>.
    /// </summary>
    public void HandlerDone(RunningJob job)
    {
        if (!job.MarkHandlerDone()) return;
        lock (_gate)
        {
            if (job.HasSlot)
            {
                _handling--;
                Interlocked.Increment(ref _returned);
            }
            else _waiting = new Queue<RunningJob>(_waiting.Where(j => j != job)); // stopped while it waited: rare
            while (!_closed && _handling < _slots && _waiting.TryDequeue(out var next)) Take(next);
        }
        _slotFreed.Signal();
    }

    void Take(RunningJob job)
    {
        _handling++;
        job.GiveSlot();
    }

    public void Remove(RunningJob job)
    {
        HandlerDone(job);
        bool atCap;
        lock (_gate)
        {
            atCap = _held >= MaxHeld; // only then did holding it keep a slot from a claim
            if (_jobs.TryRemove(new KeyValuePair<Guid, RunningJob>(job.Job.Id, job))) _held--;
        }
        if (atCap) _slotFreed.Signal();
    }

    public RunningJob? Find(Guid id) => _jobs.GetValueOrDefault(id);

    /// <summary>Jobs still waiting for a slot.</summary>
    public List<RunningJob> WaitingJobs() { lock (_gate) return [.. _waiting]; }

    /// <summary>Takes out of the line the jobs claimed at or before <paramref name="claimedBy"/> still waiting: they will not get a slot.</summary>
    public List<RunningJob> TakeWaiting(DateTime claimedBy)
    {
        lock (_gate)
        {
            var stale = _waiting.Where(j => j.ClaimedAt <= claimedBy).ToList();
            if (stale.Count > 0) _waiting = new Queue<RunningJob>(_waiting.Where(j => j.ClaimedAt > claimedBy));
            return stale;
        }
    }

    /// <summary>Whether the worker is stopping (<see cref="Close"/>): a job whose model provider gives no answer from now on is handed back, not counted (JobRunner).</summary>
    public bool Closed
    {
        get { lock (_gate) return _closed; }
    }

    /// <summary>The worker is stopping: no waiting job gets a slot from now on; returns those that were waiting.</summary>
    public List<RunningJob> Close()
    {
        lock (_gate)
        {
            _closed = true;
            var waiting = _waiting.ToList();
            _waiting.Clear();
            return waiting;
        }
    }

    /// <summary>Handlers of this type running or waiting for a slot (what a type's concurrency limit counts).</summary>
    public int CountOfType(string type) => All.Count(j => j.Job.Type == type && !j.HandlerDone);

    /// <summary>Stops the job's run if it was claimed before the cancel (event <paramref name="seq"/>) was asked for.</summary>
    public void Cancel(Guid id, long seq)
    {
        if (Find(id) is { } run && run.Job.ClaimSeq < seq) run.Stop(StopReason.Cancelled);
    }
}
