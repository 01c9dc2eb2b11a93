using Microsoft.Extensions.Time.Testing;

namespace JobService.Tests.Infrastructure;

/// <summary>
/// A fake clock that also tells when timers are armed. A periodic loop arms its next timer only
/// after its last pass is done, so a test that moves the clock as soon as it sees a pass's result
/// can be early, and the move then fires nothing: the test waits for the loop to be armed again
/// (<see cref="UntilArmedAsync"/>) instead of sleeping and hoping it was.
/// </summary>
public sealed class ObservedClock(DateTimeOffset start) : FakeTimeProvider(start)
{
    readonly Lock _gate = new();
    readonly Dictionary<TimeSpan, (int Count, DateTimeOffset At)> _armed = [];
    TaskCompletionSource _next = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public override ITimer CreateTimer(TimerCallback callback, object? state, TimeSpan dueTime, TimeSpan period)
    {
        var timer = base.CreateTimer(callback, state, dueTime, period);
        TaskCompletionSource armed;
        lock (_gate)
        {
            _armed[dueTime] = (_armed.GetValueOrDefault(dueTime).Count + 1, GetUtcNow());
            (armed, _next) = (_next, new(TaskCreationOptions.RunContinuationsAsynchronously));
        }
        armed.SetResult();
        return timer;
    }

    /// <summary>How many timers have been armed so far with this due time.</summary>
    public int Armed(TimeSpan dueTime) => LastArmed(dueTime).Count;

    /// <summary>How many timers have been armed with this due time, and when (on this clock) the last one was.</summary>
    public (int Count, DateTimeOffset At) LastArmed(TimeSpan dueTime)
    {
        lock (_gate) return _armed.GetValueOrDefault(dueTime);
    }

    /// <summary>Waits until <paramref name="count"/> timers in all have been armed with this due time; fails after 15 s.</summary>
    public async Task UntilArmedAsync(TimeSpan dueTime, int count)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(15);
        while (true)
        {
            Task next;
            lock (_gate)
            {
                if (_armed.GetValueOrDefault(dueTime).Count >= count) return;
                next = _next.Task;
            }
            if (!await next.ArrivesWithinAsync(deadline - DateTime.UtcNow)) Assert.Fail($"Never {count} timers of {dueTime} armed");
        }
    }
}
