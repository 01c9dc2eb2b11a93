using System.Data.Common;
using System.Runtime.ExceptionServices;
using JobService.Data;

namespace JobService.Transitions;

/// <summary>
/// Group commit for single submits (<see cref="JobTransitions.SubmitAsync"/>). A submit that finds
/// no other one storing stores its job at once, alone. Submits that arrive while one is storing
/// queue; when it has committed, the first of them stores every queued job (up to
/// <see cref="MaxJobs"/>) in one statement and one commit, and answers the others. Under load a
/// submit then costs the database one row, not one transaction, and a quiet service waits for
/// nothing: no timer gathers a group, only the commit before it does.
/// </summary>
sealed class SubmitGroup
{
    /// <summary>As many as one POST /jobs/batch takes.</summary>
    public const int MaxJobs = 1000;

    readonly Lock _gate = new();
    readonly List<Waiting> _queue = [];
    bool _storing;

    /// <summary>Submits waiting for the commit before them (for tests).</summary>
    internal int Queued
    {
        get { lock (_gate) return _queue.Count; }
    }

    enum Turn { Stored, StoreTheQueue, StoreAlone }

    /// <summary>A queued job, and what its submit is told to do next (or the group's exception).</summary>
    sealed class Waiting(Job job)
    {
        public readonly Job Job = job;
        public readonly TaskCompletionSource<Turn> Next = new(TaskCreationOptions.RunContinuationsAsynchronously);
    }

    /// <summary>
    /// Stores <paramref name="job"/>, alone or with others, through <paramref name="store"/> (a
    /// submit's own, when it stores the group); returns once it is committed. Not cancellable: a
    /// queued submit may be storing the others' jobs when its caller leaves.
    /// </summary>
    public async Task StoreAsync(Job job, Func<IReadOnlyList<Job>, Task> store)
    {
        var me = new Waiting(job);
        bool first;
        lock (_gate)
        {
            _queue.Add(me);
            first = !_storing;
            _storing = true;
        }
        switch (first ? Turn.StoreTheQueue : await me.Next.Task)
        {
            case Turn.Stored: return;
            case Turn.StoreAlone: await store([job]); return;
        }

        List<Waiting> group;
        lock (_gate)
        {
            group = _queue.GetRange(0, Math.Min(_queue.Count, MaxJobs)); // this one is first: queued first, or told to store as first
            _queue.RemoveRange(0, group.Count);
        }
        Exception? failed = null;
        try
        {
            await store(group.ConvertAll(q => q.Job));
        }
        catch (Exception e)
        {
            failed = e;
        }
        // A refusal that one job may have caused (the database refused the statement, or the group
        // is past the tenant's quota; nothing was stored) must not refuse the others: each tries
        // alone. An outage fails them all, as it would have failed each.
        var alone = group.Count > 1 && failed is DbException or JobTransitions.QuotaExceededException && !DatabaseErrors.IsUnavailable(failed);
        foreach (var other in group.Skip(1))
            if (failed is null) other.Next.SetResult(Turn.Stored);
            else if (alone) other.Next.SetResult(Turn.StoreAlone);
            else other.Next.SetException(failed);
        Waiting? next;
        lock (_gate)
        {
            next = _queue.Count > 0 ? _queue[0] : null;
            _storing = next is not null;
        }
        next?.Next.SetResult(Turn.StoreTheQueue);
        if (alone) await store([job]);
        else if (failed is not null) ExceptionDispatchInfo.Throw(failed);
    }
}
