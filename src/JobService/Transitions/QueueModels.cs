namespace JobService.Transitions;

/// <summary>Who holds a job: every worker write is conditional on all three still being true.</summary>
public sealed record JobLease(Guid JobId, int Attempt, string WorkerId);

/// <summary>A job as a claim hands it to the worker.</summary>
public sealed record ClaimedJob(Guid Id, string Type, string Payload, int Attempt, int MaxAttempts)
{
    public JobLease Lease(string workerId) => new(Id, Attempt, workerId);
}

/// <summary>Jobs of these types, at most <paramref name="Limit"/> of them (one per-type quota, or all unlimited types).</summary>
public sealed record TypeQuota(IReadOnlyList<string> Types, int Limit);

/// <summary>
/// One claim: up to <paramref name="Limit"/> due pending jobs over all quotas, shared fairly
/// between tenants (<see cref="FairClaim"/>), highest priority first within a tenant, then run_at,
/// then id; a tenant's running jobs capped at <paramref name="MaxRunningPerTenant"/> when it is above 0.
/// </summary>
public sealed record ClaimRequest(string WorkerId, int Limit, IReadOnlyList<TypeQuota> Quotas, DateTime Now, DateTime LeaseUntil,
    int MaxRunningPerTenant = 0);

/// <summary>A successful attempt, waiting to be written in a batch.</summary>
public sealed record Completion(JobLease Lease, string? Result);

/// <summary>What a heartbeat learns of a job it still holds.</summary>
public sealed record HeldJob(Guid Id, int Attempt, bool CancelRequested);
