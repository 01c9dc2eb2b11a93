namespace JobService.Handlers;

/// <summary>
/// Ends the attempt without spending it: a service the job needs is down (its model provider gives
/// no answer), which is no fault of the job. The worker hands the job back, pending, to run again
/// no sooner than <see cref="After"/>; its <c>message</c> says why meanwhile ("Waiting for a service it
/// needs: " and this exception's message; <c>error</c> stays as it was). A job waits
/// so through an outage of any length instead of using up its attempts on it; a handler that
/// throws this for a fault of its own keeps its job waiting for ever, so it is for outages only.
/// </summary>
public sealed class ServiceUnavailableJobException(string message, TimeSpan after, Exception? inner = null) : Exception(message, inner)
{
    /// <summary>At least a second (each hand-back is a claim and a write) and at most a day.</summary>
    public TimeSpan After { get; } = after < TimeSpan.FromSeconds(1) ? TimeSpan.FromSeconds(1)
        : after > RetryAfterJobException.MaxAfter ? RetryAfterJobException.MaxAfter : after;
}
