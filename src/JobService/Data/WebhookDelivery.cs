namespace JobService.Data;

/// <summary>
/// One webhook to send: written by the transition that caused it, in the same transaction (an
/// outbox), and claimed like a job by any worker node. Its id is the <c>webhook-id</c> header,
/// the same on every attempt; its body is fixed when it is written (text, never jsonb: the bytes
/// signed are the bytes sent, on every retry).
/// </summary>
public sealed class WebhookDelivery
{
    public Guid Id { get; set; }
    public Guid JobId { get; set; }
    public required string TenantId { get; set; }
    /// <summary>job.completed, job.failed, job.cancelled, job.started or job.retrying.</summary>
    public required string EventType { get; set; }
    public required string Url { get; set; }
    /// <summary>The URL's scheme, host and port (<see cref="Webhooks.CallbackUrls.Receiver"/>): what Webhooks:ConcurrencyPerReceiver counts by.</summary>
    public required string Receiver { get; set; }
    public required string Body { get; set; }
    /// <summary>pending (waiting for its next attempt, or being sent), succeeded, failed (gave up), gone (410), blocked (an internal address).</summary>
    public required string Status { get; set; }
    public int Attempts { get; set; }
    /// <summary>When a pending delivery is due; while one is being sent, when its sender's lease runs out.</summary>
    public DateTime? NextAttemptAt { get; set; }
    public string? LockedBy { get; set; }
    public int? LastResponseStatus { get; set; }
    public string? LastError { get; set; }
    public DateTime CreatedAt { get; set; }
    public DateTime UpdatedAt { get; set; }
}

/// <summary>One try at sending a delivery: what came back (at most 1 KB of the body kept).</summary>
public sealed class WebhookAttempt
{
    public Guid DeliveryId { get; set; }
    public int Number { get; set; }
    public DateTime StartedAt { get; set; }
    public int DurationMs { get; set; }
    public int? ResponseStatus { get; set; }
    public string? Error { get; set; }
    public string? ResponseBody { get; set; }
}

/// <summary>A tenant's signing secret (whsec_…), and the one it replaced while both still sign.</summary>
public sealed class WebhookSecret
{
    public required string TenantId { get; set; }
    public required string Secret { get; set; }
    public DateTime CreatedAt { get; set; }
    public string? PreviousSecret { get; set; }
    public DateTime? PreviousUntil { get; set; }
}
