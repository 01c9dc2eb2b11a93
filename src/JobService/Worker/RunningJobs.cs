using System.Collections.Concurrent;
using JobService.Transitions;

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
    int _reason;

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

    /// <summary>The first reason wins; later ones change nothing.</summary>
    public void Stop(StopReason reason)
    {
        if (Interlocked.CompareExchange(ref _reason, (int)reason, 0) == 0) _stop.Cancel();
    }
}

/// <summary>The jobs this process runs now, by id. Cancels, heartbeats and shutdown find them here.</summary>
public sealed class RunningJobs
{
    readonly ConcurrentDictionary<Guid, RunningJob> _jobs = new();

    public int Count => _jobs.Count;
    public ICollection<RunningJob> All => _jobs.Values;

    public void Add(RunningJob job) => _jobs[job.Job.Id] = job;
    public void Remove(RunningJob job) => _jobs.TryRemove(new KeyValuePair<Guid, RunningJob>(job.Job.Id, job));
    public RunningJob? Find(Guid id) => _jobs.GetValueOrDefault(id);

    public int CountOfType(string type) => _jobs.Values.Count(j => j.Job.Type == type);

    public void Cancel(Guid id, StopReason reason) => Find(id)?.Stop(reason);
}
