namespace JobService.Handlers;

/// <summary>
/// Fails the attempt and asks for the job's retry no sooner than <see cref="After"/> (a provider's
/// Retry-After, a quota's reset): the worker's backoff is used if it is longer. The attempt is
/// spent, as any failure's is; past the last one the job fails with this message.
/// </summary>
public sealed class RetryAfterJobException(string message, TimeSpan after, Exception? inner = null) : Exception(message, inner)
{
    /// <summary>The longest wait honoured: a day, as for webhooks' Retry-After.</summary>
    public static readonly TimeSpan MaxAfter = TimeSpan.FromDays(1);

    public TimeSpan After { get; } = after < TimeSpan.Zero ? TimeSpan.Zero : after > MaxAfter ? MaxAfter : after;
}
