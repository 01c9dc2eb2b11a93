using System.Runtime.ExceptionServices;

namespace JobService.Data;

/// <summary>
/// Group commit, for the API's busiest statements (a submit, a poll's read): a call that finds no
/// other one running runs at once, alone. Calls that arrive while one runs queue; when it has
/// returned, the first of them runs every queued item (up to its maximum) as one statement, and
/// answers the others. Under load an item then costs the database one row, not one round trip (and
/// a write one row, not one transaction), and a quiet service waits for nothing: no timer gathers
/// a group, only the statement before it does. Not cancellable: a queued call may be running the
/// others' items when its caller leaves.
/// </summary>
public sealed class RunTogether<TItem, TResult>(int maxItems)
{
    readonly Lock _gate = new();
    readonly List<Waiting> _queue = [];
    bool _running;
    int _inRun;

    /// <summary>Calls waiting for the statement before them (for tests).</summary>
    internal int Queued
    {
        get { lock (_gate) return _queue.Count; }
    }

    /// <summary>Items of the group whose statement runs now (for tests: a call that has arrived and not queued).</summary>
    internal int Running
    {
        get { lock (_gate) return _inRun; }
    }

    enum Turn { Answered, RunTheQueue, RunAlone }

    /// <summary>A queued item, its answer, and what its call is told to do next (or the group's exception).</summary>
    sealed class Waiting(TItem item)
    {
        public readonly TItem Item = item;
        public TResult Result = default!;
        public readonly TaskCompletionSource<Turn> Next = new(TaskCreationOptions.RunContinuationsAsynchronously);
    }

    /// <summary>
    /// <paramref name="item"/>'s answer from <paramref name="run"/>, which answers a list of items in
    /// order (the call's own, when it runs the group). When a group's run throws an exception that
    /// <paramref name="eachAlone"/> says one item may have caused (so that nothing of it took
    /// effect), every item of the group is run again by itself.
    /// </summary>
    public async Task<TResult> RunAsync(TItem item, Func<IReadOnlyList<TItem>, Task<IReadOnlyList<TResult>>> run, Func<Exception, bool> eachAlone)
    {
        var me = new Waiting(item);
        bool first;
        lock (_gate)
        {
            _queue.Add(me);
            first = !_running;
            _running = true;
        }
        switch (first ? Turn.RunTheQueue : await me.Next.Task)
        {
            case Turn.Answered: return me.Result;
            case Turn.RunAlone: return (await run([item]))[0];
        }

        List<Waiting> group;
        lock (_gate)
        {
            group = _queue.GetRange(0, Math.Min(_queue.Count, maxItems)); // this one is first: queued first, or told to run as first
            _queue.RemoveRange(0, group.Count);
            _inRun = group.Count;
        }
        IReadOnlyList<TResult>? results = null;
        Exception? failed = null;
        try
        {
            results = await run(group.ConvertAll(w => w.Item));
        }
        catch (Exception e)
        {
            failed = e;
        }
        var alone = failed is not null && group.Count > 1 && eachAlone(failed);
        for (var i = 1; i < group.Count; i++)
        {
            if (results is not null) group[i].Result = results[i];
            if (failed is null) group[i].Next.SetResult(Turn.Answered);
            else if (alone) group[i].Next.SetResult(Turn.RunAlone);
            else group[i].Next.SetException(failed);
        }
        Waiting? next;
        lock (_gate)
        {
            next = _queue.Count > 0 ? _queue[0] : null;
            _running = next is not null;
            _inRun = 0;
        }
        next?.Next.SetResult(Turn.RunTheQueue);
        if (alone) return (await run([item]))[0];
        if (failed is not null) ExceptionDispatchInfo.Throw(failed);
        return results![0];
    }
}
