using JobService.Transitions;

namespace JobService.Worker;

/// <summary>Successful attempts' outcomes, in batches (<see cref="JobTransitions.CompleteAsync"/>: one statement).</summary>
public sealed class CompletionBatcher(JobTransitions transitions, ILogger<CompletionBatcher> log) : LeaseBatcher<Completion>(transitions, log)
{
    protected override string What => "completions";
    protected override Guid JobOf(Completion item) => item.Lease.JobId;
    protected override Task<IReadOnlySet<Guid>> WriteBatchAsync(IReadOnlyList<Completion> items) => Transitions.CompleteAsync(items, CancellationToken.None, Connection);

    public Task<bool> CompleteAsync(Completion completion) => WriteAsync(completion);
}

