using System.Collections.Concurrent;
using JobService.Transitions;

namespace JobService.Events;

/// <summary>
/// This node's open streams and what wakes them. A committed event reaches every node as a
/// notice (LISTEN/NOTIFY on PostgreSQL, in-process on SQLite) that says only <c>job_id:seq</c>;
/// the hub pokes the streams watching that job (and the streams over all jobs), which then read
/// the new events from the table themselves. Many notices before a stream reads are one read.
/// </summary>
public sealed class EventHub : IDisposable
{
    readonly IJobNotifier _notifier;
    readonly ConcurrentDictionary<Guid, ConcurrentDictionary<Watch, byte>> _byJob = new();
    readonly ConcurrentDictionary<Watch, byte> _all = new();

    public EventHub(IJobDriver driver)
    {
        _notifier = driver.Notifier;
        _notifier.Received += OnNotice;
    }

    /// <summary>Open streams, for metrics: per-job and over all jobs.</summary>
    public (int Job, int All) Open => (_byJob.Values.Sum(w => w.Count), _all.Count);

    /// <summary>Take the watch before reading: an event committed after the read still pokes it.</summary>
    public Watch WatchJob(Guid id)
    {
        var watch = new Watch(w =>
        {
            if (_byJob.TryGetValue(id, out var set)) set.TryRemove(w, out _);
        });
        _byJob.GetOrAdd(id, _ => new()).TryAdd(watch, 0);
        return watch;
    }

    public Watch WatchAll()
    {
        var watch = new Watch(w => _all.TryRemove(w, out _));
        _all.TryAdd(watch, 0);
        return watch;
    }

    void OnNotice(Notice notice)
    {
        switch (notice)
        {
            case Notice.EventsAppended e:
                if (_byJob.TryGetValue(e.JobId, out var watchers)) foreach (var w in watchers.Keys) w.Poke();
                foreach (var w in _all.Keys) w.Poke();
                break;
            case Notice.Reconnected: // whatever was announced while the listener was away: read again
                foreach (var w in _byJob.Values.SelectMany(s => s.Keys).Concat(_all.Keys)) w.Poke();
                break;
        }
    }

    public void Dispose() => _notifier.Received -= OnNotice;

    /// <summary>One stream's wake-up: set by any number of pokes, cleared by the wait that sees it.</summary>
    public sealed class Watch(Action<Watch> remove) : IDisposable
    {
        readonly SemaphoreSlim _poked = new(0, 1);

        public void Poke()
        {
            try { if (_poked.CurrentCount == 0) _poked.Release(); }
            catch (SemaphoreFullException) { } // poked already
        }

        /// <summary>True when poked, false when the timeout passed first.</summary>
        public Task<bool> WaitAsync(TimeSpan timeout, CancellationToken ct) => _poked.WaitAsync(timeout, ct);

        public void Dispose() => remove(this);
    }
}
