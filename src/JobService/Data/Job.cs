namespace JobService.Data;

/// <summary>
/// One row of the <c>jobs</c> table. Times are UTC <see cref="DateTime"/> so that SQLite can
/// sort and compare them in SQL. JSON documents (payload, result, usage detail) are strings in
/// C#: jsonb on PostgreSQL, text on SQLite. Only <see cref="Transitions.JobTransitions"/> writes it.
/// </summary>
public sealed class Job
{
    public Guid Id { get; set; }
    /// <summary>The tenant of the key that created it (never from the request body); "default" when auth is off.</summary>
    public string TenantId { get; set; } = Auth.Caller.DefaultTenant;
    public required string Type { get; set; }
    public JobStatus Status { get; set; }
    /// <summary>0 to 100, never 0 to 1; 100 only when completed.</summary>
    public int Progress { get; set; }
    public string? Message { get; set; }
    public required string Payload { get; set; }
    public string? Result { get; set; }
    public string? Error { get; set; }
    public int Priority { get; set; }
    public int Attempt { get; set; }
    public int MaxAttempts { get; set; }
    public DateTime RunAt { get; set; }
    public bool CancelRequested { get; set; }
    public string? CallbackUrl { get; set; }
    /// <summary>The webhook types to send to <see cref="CallbackUrl"/>, space-separated; null: the three terminal ones.</summary>
    public string? CallbackEvents { get; set; }
    public DateTime CreatedAt { get; set; }
    public DateTime UpdatedAt { get; set; }
    public DateTime? StartedAt { get; set; }
    public DateTime? CompletedAt { get; set; }

    // LLM usage, null until a handler records some.
    public int? PromptTokens { get; set; }
    public int? CompletionTokens { get; set; }
    public int? TotalTokens { get; set; }
    public double? CostUsd { get; set; }

    // Idempotency: the client's key and a hash of the request it came with.
    public string? IdempotencyKey { get; set; }
    public string? RequestHash { get; set; }

    /// <summary>The W3C trace context (traceparent) of the request that created the job: the worker's span links to it.</summary>
    public string? TraceParent { get; set; }

    /// <summary>How often the job lost its worker (an expired lease); past Worker:MaxRescues it fails.</summary>
    public int RescueCount { get; set; }

    /// <summary>The seq of the job's latest event: each transition adds one under the row's lock (also the ETag).</summary>
    public long EventSeq { get; set; }

    /// <summary>The latest attempt's LLM usage detail as JSON (model, provider, estimated, steps); totals are the columns above.</summary>
    public string? UsageDetail { get; set; }

    /// <summary>
    /// What a handler kept for the job's later attempts (JSON: a pipeline's finished steps), so that a
    /// retry does not do that work again (<see cref="Handlers.IJobContext.KeepAsync"/>). A retry by hand clears it.
    /// </summary>
    public string? Checkpoint { get; set; }

    // The lease held by the worker running the job; every worker write is fenced on it.
    public string? LockedBy { get; set; }
    public DateTime? LockedUntil { get; set; }
}
