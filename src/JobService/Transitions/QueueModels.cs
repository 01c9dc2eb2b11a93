namespace JobService.Transitions;

/// <summary>Who holds a job: every worker write is conditional on all three still being true.</summary>
public sealed record JobLease(Guid JobId, int Attempt, string WorkerId);

/// <summary>
/// A job as a claim hands it to the worker; <paramref name="HasCallback"/>: it has a callback_url
/// (fixed at submit); <paramref name="ClaimSeq"/>: the claim's event, which tells this run from the
/// job's earlier ones (an attempt number starts again when a job is retried by hand).
/// </summary>
public sealed record ClaimedJob(Guid Id, string Type, string Payload, int Attempt, int MaxAttempts, bool HasCallback, long ClaimSeq)
{
    public JobLease Lease(string workerId) => new(Id, Attempt, workerId);
}

/// <summary>Jobs of these types, at most <paramref name="Limit"/> of them (one per-type quota, or all unlimited types).</summary>
public sealed record TypeQuota(IReadOnlyList<string> Types, int Limit);

/// <summary>
/// One claim: up to <paramref name="Limit"/> due pending jobs over all quotas, shared fairly
/// between tenants (<see cref="FairClaim"/>), highest priority first within a tenant, then run_at,
/// then id; a tenant's running jobs capped at <paramref name="MaxRunningPerTenant"/> when it is above 0.
/// With <paramref name="RefuseWebhookCalls"/> it claims nothing when any job it picks calls its
/// webhook when claimed (<see cref="FairClaim.CallsStarted"/>; a claim that commits by itself: no
/// outbox row may be due, <see cref="JobTransitions.ClaimAsync"/>).
/// </summary>
public sealed record ClaimRequest(string WorkerId, int Limit, IReadOnlyList<TypeQuota> Quotas, DateTime Now, DateTime LeaseUntil,
    int MaxRunningPerTenant = 0, bool RefuseWebhookCalls = false)
{
    /// <summary>
    /// What quota <paramref name="i"/>'s group may take (its <c>@limit{i}</c>): no more than the free
    /// slots. <see cref="FairClaim.Picked"/> relies on it: a lone group is the pick as it is.
    /// </summary>
    public int GroupLimit(int i) => Math.Min(Quotas[i].Limit, Limit);
}

/// <summary>
/// What a claim took: each job's row (whose <see cref="JobRow.HasCallback"/> says whether its claim
/// calls its webhook, <see cref="FairClaim.CallsStarted"/>), payload, and whether it has a
/// callback_url at all. <paramref name="Refused"/>: it took nothing because a job it picked calls
/// its webhook when claimed (only with <see cref="ClaimRequest.RefuseWebhookCalls"/>), which an empty
/// queue is not: the first is tried again in a transaction, the second needs no second look.
/// </summary>
public sealed record ClaimResult(IReadOnlyList<(JobRow Row, string Payload, bool HasCallbackUrl)> Jobs, bool Refused = false)
{
    public static readonly ClaimResult None = new([]);
}

/// <summary>
/// A successful attempt, waiting to be written in a batch. <paramref name="HasCallback"/> is the
/// claim's word on the job's callback_url; unless told there is none, the completion is written
/// in a transaction with whatever its hooks write (<see cref="JobTransitions.CompleteAsync"/>).
/// </summary>
public sealed record Completion(JobLease Lease, string? Result, bool HasCallback = true);

/// <summary>What a heartbeat learns of a job it still holds.</summary>
public sealed record HeldJob(Guid Id, int Attempt, bool CancelRequested);

/// <summary>
/// What a running job reports between its claim and its outcome, written together with other
/// jobs' (<see cref="JobTransitions.WriteRunningAsync"/>): its progress, its new partial text, a
/// model call's usage, a line in its log, or any of them; with a log line, what the handler keeps
/// for later attempts (<paramref name="Keep"/>, JSON replacing the stored checkpoint).
/// </summary>
public sealed record RunningWrite(JobLease Lease, ProgressReport? Progress, OutputPiece? Output, LogLine? Log = null, UsageWrite? Usage = null,
    string? Keep = null)
{
    /// <summary>The events it appends, in this order, each taking the next seq: progress, output, usage, log.</summary>
    public int Events => (Progress is null ? 0 : 1) + (Output is null ? 0 : 1) + (Usage is null ? 0 : 1) + (Log is null ? 0 : 1);
}

/// <summary>A model call's tokens and cost, added to the job's totals, and the attempt's usage detail so far (JSON, replacing the stored one).</summary>
public sealed record UsageWrite(Handlers.UsageRecord Call, string Detail);

/// <summary>A line a handler writes in its job's log (info, warning or error), and the span it was written in (tracing on).</summary>
public sealed record LogLine(string Level, string Message, System.Diagnostics.ActivityContext? Span = null);

/// <summary>Progress 0–99 (it only moves up), a status message (null keeps the last), and the stream's tokens so far.</summary>
public sealed record ProgressReport(int Value, string? Message, (int Received, int Expected)? Tokens);

/// <summary>Partial text the model produced since <paramref name="Offset"/> (0 after a new call restarted the text).</summary>
public sealed record OutputPiece(int Offset, string Text);

/// <summary>Why a worker gives a job back without spending its attempt: its shutdown, its slots busy, or a service the job needs down.</summary>
public enum HandBack { Shutdown, SlotsBusy, Unavailable }
