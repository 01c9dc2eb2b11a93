using JobService.Transitions;
using JobService.Worker;

namespace JobService.Tests.Infrastructure;

/// <summary>
/// A test's ear on the transition seam: signalled after every committed change to a job, and after
/// the service's own after-commit work for it (this hook is registered last, so the metrics are
/// counted by then). Waits take <see cref="Next"/>, check their condition, then await it: no
/// polling on a timer, and no change between the check and the wait is missed.
/// </summary>
public sealed class JobChanges : IJobTransitionHook
{
    readonly JobWakeup _changed = new();

    public Task Next => _changed.Next;

    public bool MayWriteWithoutCallback => false; // it writes nothing; the worker's completions stay as in production

    public Task OnAppliedAsync(TransitionTx tx, IReadOnlyList<AppliedChange> changes, CancellationToken ct)
    {
        tx.AfterCommit(_changed.Signal);
        return Task.CompletedTask;
    }

    /// <summary>Checks <paramref name="ready"/> after each change until it holds; fails after <paramref name="within"/>.</summary>
    public async Task<T> UntilAsync<T>(Func<Task<T>> read, Func<T, bool> ready, TimeSpan within, Func<T, string> failure)
    {
        var deadline = DateTime.UtcNow + within;
        while (true)
        {
            var changed = Next; // taken before the read: a change during it wakes the wait below
            var value = await read();
            if (ready(value)) return value;
            var left = deadline - DateTime.UtcNow;
            if (!await changed.ArrivesWithinAsync(left)) Assert.Fail(failure(value));
        }
    }
}
