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
}

/// <summary>One job this process is running: its lease and the token its handler watches.</summary>
public sealed class RunningJob(ClaimedJob job, string workerId, DateTime leaseUntil)
{
    long _leaseUntil = leaseUntil.Ticks;

    readonly CancellationTokenSource _stop = new();
    int _reason, _handlerDone;

    public ClaimedJob Job { get; } = job;
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

    /// <summary>True the first time only.</summary>
    internal bool MarkHandlerDone() => Interlocked.Exchange(ref _handlerDone, 1) == 0;

    /// <summary>The first reason wins; later ones change nothing.</summary>
    public void Stop(StopReason reason)
    {
        if (Interlocked.CompareExchange(ref _reason, (int)reason, 0) == 0) _stop.Cancel();
    }
}

/// <summary>
/// The jobs this process holds, by id: those whose handler runs (each takes a slot), and those whose
/// handler is done while their outcome is being written (no slot: the next job may start, but the
/// lease is still this worker's, renewed by the heartbeat, until the outcome is in). Cancels,
/// heartbeats and shutdown find them here.
/// </summary>
public sealed class RunningJobs(IOptions<WorkerOptions> options)
{
    readonly ConcurrentDictionary<Guid, RunningJob> _jobs = new();
    readonly JobWakeup _slotFreed = new();
    readonly int _slots = options.Value.Concurrency;
    int _handling;

    /// <summary>Every job held, outcome writes included.</summary>
    public int Count => _jobs.Count;
    public ICollection<RunningJob> All => _jobs.Values;

    /// <summary>Jobs whose handler runs: the slots taken.</summary>
    public int Handling => Volatile.Read(ref _handling);

    /// <summary>
    /// Slots a claim may fill: those no handler runs in, while this worker holds at most twice its slots
    /// (outcomes waiting to be written included), so a slow database slows the claims rather than
    /// piling up finished work.
    /// </summary>
    public int FreeSlots => Math.Max(0, Math.Min(_slots - Handling, 2 * _slots - Count));

    /// <summary>Completes when <see cref="FreeSlots"/> may have grown. Take it before reading them, like <see cref="JobWakeup.Next"/>.</summary>
    public Task SlotFreed => _slotFreed.Next;

    public void Add(RunningJob job)
    {
        Interlocked.Increment(ref _handling);
        _jobs[job.Job.Id] = job;
    }

    /// <summary>The handler is done: its slot is free, though the job stays held until <see cref="Remove"/>.</summary>
    public void HandlerDone(RunningJob job)
    {
        if (!job.MarkHandlerDone()) return;
        Interlocked.Decrement(ref _handling);
        _slotFreed.Signal();
    }

    public void Remove(RunningJob job)
    {
        HandlerDone(job);
        var atCap = Count >= 2 * _slots; // only then did holding it keep a slot from a claim
        _jobs.TryRemove(new KeyValuePair<Guid, RunningJob>(job.Job.Id, job));
        if (atCap) _slotFreed.Signal();
    }

    public RunningJob? Find(Guid id) => _jobs.GetValueOrDefault(id);

    /// <summary>Handlers of this type running now (what a type's concurrency limit counts).</summary>
    public int CountOfType(string type) => _jobs.Values.Count(j => j.Job.Type == type && !j.HandlerDone);

    public void Cancel(Guid id, StopReason reason) => Find(id)?.Stop(reason);
}
