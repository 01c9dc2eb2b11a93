using JobService.Data;
using JobService.Tests.Infrastructure;

namespace JobService.Tests.Data;

/// <summary>
/// The group commit's turns (<see cref="RunTogether{TItem, TResult}"/>), with a run the test holds
/// open: who runs alone, who queues, who runs the queue, and what each call is answered.
/// </summary>
public sealed class RunTogetherTests
{
    /// <summary>A run per call of the group's function: its items, and a gate the test opens (or fails).</summary>
    sealed class Runs
    {
        public readonly List<(IReadOnlyList<int> Items, TaskCompletionSource Gate)> Started = [];
        readonly Lock _gate = new();

        public async Task<IReadOnlyList<string>> RunAsync(IReadOnlyList<int> items)
        {
            var gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            lock (_gate) Started.Add((items, gate));
            await gate.Task;
            return items.Select(i => $"answer {i}").ToList();
        }

        public int Count
        {
            get { lock (_gate) return Started.Count; }
        }

        public (IReadOnlyList<int> Items, TaskCompletionSource Gate) this[int i]
        {
            get { lock (_gate) return Started[i]; }
        }
    }

    static Task UntilAsync(Func<bool> condition, string what) => Poll.UntilAsync(condition, what, TimeSpan.FromSeconds(10));

    [Fact]
    public async Task CallsThatComeWhileOneRunsAreRunTogetherByTheFirstOfThem()
    {
        var together = new RunTogether<int, string>(maxItems: 100);
        var runs = new Runs();
        var first = together.RunAsync(1, runs.RunAsync, _ => false);
        await UntilAsync(() => runs.Count == 1, "the first call runs");
        Assert.Equal([1], runs[0].Items); // alone, at once
        Assert.Equal(1, together.Running);

        var queued = Enumerable.Range(2, 3).Select(i => together.RunAsync(i, runs.RunAsync, _ => false)).ToList();
        await UntilAsync(() => together.Queued == 3, "three calls are queued");
        Assert.Equal(1, runs.Count); // nothing runs beside the first

        runs[0].Gate.SetResult();
        Assert.Equal("answer 1", await first);
        await UntilAsync(() => runs.Count == 2, "the queue runs");
        Assert.Equal([2, 3, 4], runs[1].Items);
        Assert.Equal((0, 3), (together.Queued, together.Running));
        Assert.All(queued, q => Assert.False(q.IsCompleted));
        runs[1].Gate.SetResult();
        Assert.Equal(["answer 2", "answer 3", "answer 4"], await Task.WhenAll(queued));
        Assert.Equal((0, 0), (together.Queued, together.Running)); // the runner (2) returns after its turn has ended

        var later = together.RunAsync(5, runs.RunAsync, _ => false); // nothing running: alone, at once
        await UntilAsync(() => runs.Count == 3, "a later call runs");
        Assert.Equal([5], runs[2].Items);
        runs[2].Gate.SetResult();
        Assert.Equal("answer 5", await later);
    }

    [Fact]
    public async Task AGroupRunsAtMostItsMaximumAndTheRestRunNext()
    {
        var together = new RunTogether<int, string>(maxItems: 2);
        var runs = new Runs();
        var calls = new List<Task<string>> { together.RunAsync(0, runs.RunAsync, _ => false) };
        await UntilAsync(() => runs.Count == 1, "the first call runs");
        calls.AddRange(Enumerable.Range(1, 3).Select(i => together.RunAsync(i, runs.RunAsync, _ => false)));
        await UntilAsync(() => together.Queued == 3, "three calls are queued");

        runs[0].Gate.SetResult();
        await UntilAsync(() => runs.Count == 2, "the queue's first two run");
        Assert.Equal([1, 2], runs[1].Items);
        runs[1].Gate.SetResult();
        await UntilAsync(() => runs.Count == 3, "the last one runs");
        Assert.Equal([3], runs[2].Items);
        runs[2].Gate.SetResult();
        Assert.Equal(["answer 0", "answer 1", "answer 2", "answer 3"], await Task.WhenAll(calls));
    }

    [Fact]
    public async Task AGroupsFailureThatOneItemMayHaveCausedHasEachItemRunAlone()
    {
        var together = new RunTogether<int, string>(maxItems: 100);
        var runs = new Runs();
        Func<Exception, bool> oneItemsFault = e => e is ArgumentException;
        var first = together.RunAsync(0, runs.RunAsync, oneItemsFault);
        await UntilAsync(() => runs.Count == 1, "the first call runs");
        var queued = Enumerable.Range(1, 3).Select(i => together.RunAsync(i, runs.RunAsync, oneItemsFault)).ToList();
        await UntilAsync(() => together.Queued == 3, "three calls are queued");
        runs[0].Gate.SetResult();
        await first;

        await UntilAsync(() => runs.Count == 2, "the queue runs");
        runs[1].Gate.SetException(new ArgumentException("item 2 is refused"));
        await UntilAsync(() => runs.Count == 5, "each item runs alone");
        for (var i = 2; i < 5; i++)
        {
            Assert.Single(runs[i].Items);
            if (runs[i].Items[0] == 2) runs[i].Gate.SetException(new ArgumentException("item 2 is refused"));
            else runs[i].Gate.SetResult();
        }
        Assert.Equal("answer 1", await queued[0]);
        Assert.Equal("item 2 is refused", (await Assert.ThrowsAsync<ArgumentException>(() => queued[1])).Message);
        Assert.Equal("answer 3", await queued[2]);
    }

    [Fact]
    public async Task AGroupsFailureThatIsNotOneItemsFailsEveryCallOfTheGroupAndTheNextGroupRuns()
    {
        var together = new RunTogether<int, string>(maxItems: 100);
        var runs = new Runs();
        var first = together.RunAsync(0, runs.RunAsync, e => e is ArgumentException);
        await UntilAsync(() => runs.Count == 1, "the first call runs");
        var queued = Enumerable.Range(1, 2).Select(i => together.RunAsync(i, runs.RunAsync, e => e is ArgumentException)).ToList();
        await UntilAsync(() => together.Queued == 2, "two calls are queued");

        runs[0].Gate.SetException(new TimeoutException("the database is away"));
        await Assert.ThrowsAsync<TimeoutException>(() => first);
        await UntilAsync(() => runs.Count == 2, "the queue runs");
        var during = together.RunAsync(3, runs.RunAsync, e => e is ArgumentException);
        await UntilAsync(() => together.Queued == 1, "a call is queued behind the group");
        runs[1].Gate.SetException(new TimeoutException("the database is away"));
        foreach (var call in queued) await Assert.ThrowsAsync<TimeoutException>(() => call);

        await UntilAsync(() => runs.Count == 3, "the next group runs");
        Assert.Equal([3], runs[2].Items); // and not the failed group's items again, one by one
        runs[2].Gate.SetResult();
        Assert.Equal("answer 3", await during);
        Assert.Equal(3, runs.Count);
    }
}
