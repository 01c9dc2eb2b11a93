namespace JobService.Worker;

/// <summary>
/// The SQL that differs between SQLite and PostgreSQL, one implementation per provider (River's
/// driver, in miniature). Everything else the worker writes is plain EF Core in <see cref="JobStore"/>.
/// </summary>
public interface IQueueDriver
{
    /// <summary>
    /// Claims due pending jobs in one statement: marks them running with this worker's lease,
    /// spends an attempt, and returns them. No job is ever returned to two claimers.
    /// </summary>
    Task<IReadOnlyList<ClaimedJob>> ClaimAsync(ClaimRequest request, CancellationToken ct);

    /// <summary>
    /// Marks many jobs completed in one statement, each only if the lease in its
    /// <see cref="Completion"/> still holds. Returns the ids actually written.
    /// </summary>
    Task<IReadOnlySet<Guid>> CompleteAsync(IReadOnlyList<Completion> completions, DateTime now, CancellationToken ct);
}
