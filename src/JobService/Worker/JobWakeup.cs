namespace JobService.Worker;

/// <summary>
/// An in-process wake-up: <see cref="Signal"/> completes the task every current waiter holds.
/// A worker takes <see cref="Next"/> before it looks for work and awaits it only if it found
/// none, so a signal sent between the empty claim and the wait is never lost.
/// </summary>
public sealed class JobWakeup
{
    TaskCompletionSource _next = NewSource();

    public void Signal() => Interlocked.Exchange(ref _next, NewSource()).TrySetResult();

    /// <summary>The task that completes at the next <see cref="Signal"/>. Take it before checking for work.</summary>
    public Task Next => Volatile.Read(ref _next).Task;

    static TaskCompletionSource NewSource() => new(TaskCreationOptions.RunContinuationsAsynchronously);
}
