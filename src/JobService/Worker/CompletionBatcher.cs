using System.Threading.Channels;
using JobService.Transitions;

namespace JobService.Worker;

/// <summary>
/// Writes completions in batches: whatever finished while the previous batch was being
/// written goes out in the next single statement (at most <see cref="MaxBatch"/> jobs). Under load
/// that is one write for many jobs; when idle a lone completion is written at once. Each row keeps
/// its own lease fence.
/// </summary>
public sealed class CompletionBatcher(JobTransitions transitions, ILogger<CompletionBatcher> log)
{
    public const int MaxBatch = 1_000;
    readonly Channel<(Completion Completion, TaskCompletionSource<bool> Written)> _queue =
        Channel.CreateUnbounded<(Completion, TaskCompletionSource<bool>)>(new UnboundedChannelOptions { SingleReader = true });

    /// <summary>True when written; false when the lease was lost first (nothing was written). Throws when the write failed: the caller retries.</summary>
    public Task<bool> CompleteAsync(Completion completion)
    {
        var written = new TaskCompletionSource<bool>(TaskCreationOptions.RunContinuationsAsynchronously);
        if (!_queue.Writer.TryWrite((completion, written)))
            written.SetException(new InvalidOperationException("The worker has stopped writing completions."));
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
        while (await _queue.Reader.WaitToReadAsync())
        {
            var batch = new List<(Completion Completion, TaskCompletionSource<bool> Written)>();
            while (batch.Count < MaxBatch && _queue.Reader.TryRead(out var item)) batch.Add(item);
            writing.Add(WriteAsync(batch));
            if (batch.Count == MaxBatch && writing.Count < 2 && _queue.Reader.TryPeek(out _)) continue; // more behind a full batch
            await Task.WhenAll(writing);
            writing.Clear();
        }
        await Task.WhenAll(writing);
    }

    async Task WriteAsync(List<(Completion Completion, TaskCompletionSource<bool> Written)> batch)
    {
        try
        {
            var written = await transitions.CompleteAsync(batch.Select(b => b.Completion).ToList(), CancellationToken.None);
            foreach (var (completion, done) in batch) done.TrySetResult(written.Contains(completion.Lease.JobId));
        }
        catch (Exception e)
        {
            log.LogWarning("Writing {Count} completions failed: {Error}", batch.Count, Data.DatabaseErrors.OneLine(e));
            foreach (var (_, done) in batch) done.TrySetException(e);
        }
    }

    public void Stop() => _queue.Writer.TryComplete();
}
