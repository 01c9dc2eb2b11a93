using System.Text.Json;
using JobService.Handlers;

namespace JobService.Worker;

/// <summary>
/// The handler's view of its job. Progress is kept in memory and written at most once per
/// <see cref="WorkerOptions.ProgressIntervalMs"/> (the worker flushes what is left on its
/// timer and with the outcome), so reporting on every token costs no write per token. Every
/// write is fenced on the lease; a refused write means the lease is lost and stops the handler.
/// </summary>
public sealed class JobContext : IJobContext
{
    readonly RunningJob _running;
    readonly JobStore _store;
    readonly TimeProvider _time;
    readonly TimeSpan _interval;
    readonly ILogger _log;
    readonly Lock _gate = new();
    int _progress;
    string? _message;
    bool _dirty;
    int _writing;
    long _lastWrite;
    int _promptTokens, _completionTokens;
    double _costUsd;
    bool _hasUsage;
    volatile bool _closed;

    public JobContext(RunningJob running, CancellationToken token, JobStore store, TimeProvider time, TimeSpan interval, ILogger log)
    {
        _running = running;
        _store = store;
        _time = time;
        _interval = interval;
        _log = log;
        CancellationToken = token;
        using var payload = JsonDocument.Parse(running.Job.Payload);
        Payload = payload.RootElement.Clone(); // detached, so the document's pooled buffers go back now
        _lastWrite = time.GetTimestamp() - (long)(interval.TotalSeconds * time.TimestampFrequency) - 1;
    }

    public Guid JobId => _running.Job.Id;
    public string Type => _running.Job.Type;
    public int Attempt => _running.Job.Attempt;
    public int MaxAttempts => _running.Job.MaxAttempts;
    public JsonElement Payload { get; }
    public CancellationToken CancellationToken { get; }

    /// <summary>The highest progress reported in this attempt, 0–99.</summary>
    public int Progress { get { lock (_gate) return _progress; } }

    public JobUsage? Usage
    {
        get { lock (_gate) return _hasUsage ? new JobUsage(_promptTokens, _completionTokens, _costUsd) : null; }
    }

    public ValueTask ReportProgressAsync(double percent, string? message = null)
    {
        if (_closed || double.IsNaN(percent)) return ValueTask.CompletedTask;
        // 100 is written only with the completion; a handler cannot claim it early.
        var value = (int)Math.Clamp(Math.Floor(percent), 0, 99);
        lock (_gate)
        {
            if (value > _progress || (message is not null && message != _message)) _dirty = true;
            _progress = Math.Max(_progress, value);
            if (message is not null) _message = message.Clip(500);
        }
        return Due ? new ValueTask(FlushAsync()) : ValueTask.CompletedTask;
    }

    /// <summary>No write for a whole interval: the next one may go.</summary>
    bool Due => _time.GetElapsedTime(Interlocked.Read(ref _lastWrite)) >= _interval;

    /// <summary>
    /// Writes the latest progress if it changed and the interval since the last write is over
    /// (the handler's reports and the worker's timer both come here); one write at a time per job.
    /// </summary>
    public async Task FlushAsync()
    {
        int progress;
        string? message;
        lock (_gate)
        {
            if (!_dirty || _closed || !Due) return;
            if (Interlocked.Exchange(ref _writing, 1) == 1) return; // a write is under way; it or the next tick carries this
            (progress, message, _dirty) = (_progress, _message, false);
        }
        try
        {
            Interlocked.Exchange(ref _lastWrite, _time.GetTimestamp());
            if (!await _store.UpdateProgressAsync(_running.Lease, progress, message, CancellationToken.None))
                _running.Stop(StopReason.LeaseLost);
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            lock (_gate) _dirty = true; // keep it for the next tick
            _log.LogWarning(e, "Could not write the progress of job {JobId}", JobId);
        }
        finally
        {
            Interlocked.Exchange(ref _writing, 0);
        }
    }

    public async ValueTask LogAsync(JobLogLevel level, string message)
    {
        if (_closed) return;
        var name = level switch { JobLogLevel.Warning => "warning", JobLogLevel.Error => "error", _ => "info" };
        _log.Log(level switch { JobLogLevel.Warning => LogLevel.Warning, JobLogLevel.Error => LogLevel.Error, _ => LogLevel.Information },
            "Job log: {JobLogMessage}", message);
        if (!await _store.AppendLogAsync(_running.Lease, name, message.Clip(10_000), CancellationToken.None))
            _running.Stop(StopReason.LeaseLost);
    }

    public ValueTask RecordUsageAsync(int promptTokens, int completionTokens, double costUsd)
    {
        lock (_gate)
        {
            _hasUsage = true;
            _promptTokens += Math.Max(promptTokens, 0);
            _completionTokens += Math.Max(completionTokens, 0);
            _costUsd += Math.Max(costUsd, 0);
        }
        return ValueTask.CompletedTask;
    }

    /// <summary>The attempt is over: later calls from a handler that ignored its token change nothing.</summary>
    public void Close() => _closed = true;
}
