using System.Threading.Channels;
using JobService.Transitions;

namespace JobService.Worker;

/// <summary>
/// Writes a worker's writes of one kind in batches: whatever was queued while the previous batch
/// was being written goes out in the next single call (at most <see cref="MaxBatch"/> jobs). Under
/// load that is one write for many jobs; when idle a lone write goes out at once. Each job keeps
/// its own lease fence: its caller learns whether the job was still held. Its writes go on one
/// kept connection (<see cref="KeptConnection"/>), a batch written beside another on a pooled one.
/// </summary>
public abstract class LeaseBatcher<T>(JobTransitions transitions, ILogger log)
{
    public const int MaxBatch = 1_000;
    readonly Channel<(T Item, TaskCompletionSource<bool> Written)> _queue =
        Channel.CreateUnbounded<(T, TaskCompletionSource<bool>)>(new UnboundedChannelOptions { SingleReader = true });

    protected JobTransitions Transitions { get; } = transitions;
    protected KeptConnection Connection { get; } = transitions.KeepConnection();

    /// <summary>What a batch is, for the log: "completions".</summary>
    protected abstract string What { get; }

    protected abstract Guid JobOf(T item);

    /// <summary>Writes the batch in one transaction; returns the jobs written (the others' leases were lost).</summary>
    protected abstract Task<IReadOnlySet<Guid>> WriteBatchAsync(IReadOnlyList<T> items);

    /// <summary>True when written; false when the lease was lost first (nothing was written). Throws when the write failed: the caller retries.</summary>
    public Task<bool> WriteAsync(T item)
    {
        var written = new TaskCompletionSource<bool>(TaskCreationOptions.RunContinuationsAsynchronously);
        if (!_queue.Writer.TryWrite((item, written)))
            written.SetException(new InvalidOperationException($"The worker has stopped: {What} are no longer written."));
        return written.Task;
    }

    /// <summary>
    /// Runs until <see cref="Stop"/> and the queue is empty. A full batch means a backlog (many
    /// slots' short jobs): the next batch is written beside it, on another connection, rather than
    /// after it; otherwise one batch at a time, so that a trickle still goes out in one statement.
    /// </summary>
    public async Task RunAsync()
    {
        var writing = new List<Task>(2);
        try
        {
            while (await _queue.Reader.WaitToReadAsync())
            {
                var batch = new List<(T Item, TaskCompletionSource<bool> Written)>();
                while (batch.Count < MaxBatch && _queue.Reader.TryRead(out var item)) batch.Add(item);
                writing.Add(WriteAsync(batch));
                if (batch.Count == MaxBatch && writing.Count < 2 && _queue.Reader.TryPeek(out _)) continue; // more behind a full batch
                await Task.WhenAll(writing);
                writing.Clear();
            }
            await Task.WhenAll(writing);
        }
        finally
        {
            await Connection.DisposeAsync();
        }
    }

    async Task WriteAsync(List<(T Item, TaskCompletionSource<bool> Written)> batch)
    {
        try
        {
            var written = await WriteBatchAsync(batch.Select(b => b.Item).ToList());
            foreach (var (item, done) in batch) done.TrySetResult(written.Contains(JobOf(item)));
        }
        catch (Exception e) when (batch.Count > 1 && !Data.DatabaseErrors.IsUnavailable(e))
        {
            // The database is there, so one job's row may be what failed (data it refused): each is
            // written alone, and only that job's write fails.
            log.LogWarning("Writing {Count} {What} together failed: {Error}; writing them one at a time", batch.Count, What, Data.DatabaseErrors.OneLine(e));
            foreach (var one in batch) await WriteAsync([one]);
        }
        catch (Exception e)
        {
            // The database away: each caller tells it (an outcome's retries, the progress's outage line), not each batch.
            log.Log(Data.DatabaseErrors.IsUnavailable(e) ? LogLevel.Debug : LogLevel.Warning, "Writing {Count} {What} failed: {Error}",
                batch.Count, What, Data.DatabaseErrors.OneLine(e));
            foreach (var (_, done) in batch) done.TrySetException(e);
        }
    }

    public void Stop() => _queue.Writer.TryComplete();
}
