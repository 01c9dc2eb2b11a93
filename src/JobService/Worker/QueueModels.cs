namespace JobService.Worker;

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
/// One claim: up to <paramref name="Limit"/> due pending jobs over all quotas, highest
/// priority first, then run_at, then id.
/// </summary>
public sealed record ClaimRequest(string WorkerId, int Limit, IReadOnlyList<TypeQuota> Quotas, DateTime Now, DateTime LeaseUntil);

/// <summary>LLM usage recorded by a handler; written with the job's outcome.</summary>
public sealed record JobUsage(int PromptTokens, int CompletionTokens, double CostUsd)
{
    public int TotalTokens => PromptTokens + CompletionTokens;
}

/// <summary>A successful attempt, waiting to be written in a batch.</summary>
public sealed record Completion(JobLease Lease, string? Result, JobUsage? Usage);

/// <summary>What a heartbeat learns of a job it still holds.</summary>
public sealed record HeldJob(Guid Id, int Attempt, bool CancelRequested);

/// <summary>A line for the job's log, written in the same transaction as the outcome it explains.</summary>
public sealed record OutcomeLog(string Level, string Message);
