using JobService.Transitions;

namespace JobService.Worker;

/// <summary>
/// What running jobs report (progress, partial text), in batches (<see cref="JobTransitions.WriteRunningAsync"/>:
/// one transaction). Each job writes at most every progress and output interval, but a worker with
/// hundreds of streaming jobs wrote a transaction of four round trips for each of them, two to
/// five times a second, and PostgreSQL's CPU was the limit (docs/benchmarks.md).
/// </summary>
public sealed class ProgressBatcher(JobTransitions transitions, ILogger<ProgressBatcher> log) : LeaseBatcher<RunningWrite>(transitions, log)
{
    protected override string What => "progress writes";

    /// <summary>Running jobs' progress writes while the database is away: told once for all of them, not per job and tick.</summary>
    public Data.OutageLog Outage { get; } = new(log, "Writing running jobs' progress (what it carried goes with the next write)");
    protected override Guid JobOf(RunningWrite item) => item.Lease.JobId;
    protected override Task<IReadOnlySet<Guid>> WriteBatchAsync(IReadOnlyList<RunningWrite> items) => Transitions.WriteRunningAsync(items, CancellationToken.None, Connection);
}
