using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using JobService.Handlers;
using JobService.Transitions;

namespace JobService.Worker;

/// <summary>
/// The handler's view of its job. Progress and the model's partial text are kept in memory and
/// written at most once per interval each (<see cref="WorkerOptions.ProgressIntervalMs"/>,
/// Events:OutputFlushMs; the worker flushes what is left on its timer), so reporting on every
/// token costs no write per token; what is due goes out as one write (<see cref="RunningWrite"/>)
/// with other jobs' (<see cref="ProgressBatcher"/>). Every write is fenced on the lease; a refused
/// write means the lease is lost and stops the handler.
/// </summary>
public sealed class JobContext : IJobContext
{
    readonly RunningJob _running;
    readonly ProgressBatcher _progressWrites;
    readonly TimeProvider _time;
    readonly TimeSpan _progressInterval, _outputInterval;
    readonly ILogger _log;
    readonly Hosting.JobServiceMetrics _metrics;
    readonly JobTransitions _transitions;
    readonly Lock _gate = new();
    SemaphoreSlim? _writing; // one write at a time per job, so that events keep their order: made by the first write (most jobs write none)
    int _progress;
    string? _message;
    (int Received, int Expected)? _tokens;
    bool _dirty;
    long _lastProgress, _lastOutput;
    StringBuilder? _text; // the model's text, from the first piece on
    int _textSent, _textGeneration;
    bool _textRestarted;
    List<UsageRecord>? _calls;
    volatile bool _closed;

    public JobContext(RunningJob running, CancellationToken token, ProgressBatcher progressWrites, TimeProvider time,
        TimeSpan progressInterval, TimeSpan outputInterval, ILogger log, Hosting.JobServiceMetrics metrics, JobTransitions transitions)
    {
        _metrics = metrics;
        _transitions = transitions;
        _running = running;
        _progressWrites = progressWrites;
        _time = time;
        _progressInterval = progressInterval;
        _outputInterval = outputInterval;
        _log = log;
        CancellationToken = token;
        using var payload = JsonDocument.Parse(running.Job.Payload);
        Payload = payload.RootElement.Clone(); // detached, so the document's pooled buffers go back now
        _lastProgress = _lastOutput = time.GetTimestamp() - (long)(Math.Max(progressInterval.TotalSeconds, outputInterval.TotalSeconds) * time.TimestampFrequency) - 1;
    }

    public Guid JobId => _running.Job.Id;
    public string Type => _running.Job.Type;
    public int Attempt => _running.Job.Attempt;
    public int MaxAttempts => _running.Job.MaxAttempts;
    public JsonElement Payload { get; }
    public CancellationToken CancellationToken { get; }

    /// <summary>The highest progress reported in this attempt, 0–99.</summary>
    public int Progress { get { lock (_gate) return _progress; } }

    public ValueTask ReportProgressAsync(double percent, string? message = null)
    {
        if (_closed || double.IsNaN(percent)) return ValueTask.CompletedTask;
        // 100 is written only with the completion; a handler cannot claim it early.
        var value = (int)Math.Clamp(Math.Floor(percent), 0, 99);
        var stored = message is null ? null : JsonText.Storable(message.Clip(500)); // compared as stored: a long or odd message repeated is no change
        lock (_gate)
        {
            if (value > _progress || (stored is not null && stored != _message)) _dirty = true;
            _progress = Math.Max(_progress, value);
            if (stored is not null) _message = stored;
        }
        return Due(_lastProgress, _progressInterval) ? new ValueTask(FlushAsync()) : ValueTask.CompletedTask;
    }

    public void ReportTokens(int received, int expected)
    {
        lock (_gate) _tokens = (received, expected);
    }

    public void StreamText(string piece, bool newCall = false)
    {
        if (_closed) return;
        lock (_gate)
        {
            _text ??= new();
            if (newCall)
            {
                _text.Clear();
                (_textSent, _textRestarted) = (0, true);
                _textGeneration++;
            }
            _text.Append(JsonText.Storable(piece));
        }
    }

    bool Due(long last, TimeSpan interval) => _time.GetElapsedTime(Interlocked.Read(ref last)) >= interval;

    /// <summary>
    /// Writes what changed and is due: the latest progress (one event per progress interval) and
    /// the new partial text (one event per output interval). <paramref name="all"/> writes the
    /// text whatever the interval: the attempt is ending and watchers should see all of it first.
    /// </summary>
    public async Task FlushAsync(bool all = false)
    {
        if (_closed && !all) return;
        lock (_gate)
            if (!_dirty && TextLength == _textSent && !_textRestarted) return; // nothing to write: the usual case for a short job
        if (all) await Writing.WaitAsync();
        else if (!await Writing.WaitAsync(0)) return; // a write is under way; it or the next tick carries this
        try
        {
            await WriteDueAsync(all);
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            // Kept for the next tick. The database away is one line for every running job; anything else is this job's.
            if (Data.DatabaseErrors.IsUnavailable(e)) _progressWrites.Outage.Failed(e);
            else _log.LogWarning("Could not write the progress of job {JobId}: {Error}", JobId, Data.DatabaseErrors.OneLine(e));
        }
        finally
        {
            _writing!.Release();
        }
    }

    /// <summary>Made once, by whichever write comes first (a flush on the worker's timer, or the handler's).</summary>
    SemaphoreSlim Writing => LazyInitializer.EnsureInitialized(ref _writing, static () => new SemaphoreSlim(1, 1));

    int TextLength => _text?.Length ?? 0;

    /// <summary>
    /// The progress, if it changed and its interval is over, and the text not yet written, if its
    /// interval is over (or <paramref name="all"/>, or the progress goes), as one write. What a failed write carried is
    /// kept for the next: the progress marked changed again, the text not counted as sent.
    /// </summary>
    async Task WriteDueAsync(bool all)
    {
        ProgressReport? progress = null;
        OutputPiece? output = null;
        int generation;
        lock (_gate)
        {
            if (_closed && !all) return; // closed while this waited for its turn: the outcome may be on its way
            if (_dirty && Due(_lastProgress, _progressInterval))
                (progress, _dirty) = (new ProgressReport(_progress, _message, _tokens), false);
            // Text not yet due rides along with a due progress: one write (and one read for every
            // watcher) instead of two a moment apart.
            if ((TextLength > _textSent || _textRestarted) && (all || progress is not null || Due(_lastOutput, _outputInterval)))
            {
                var offset = _textRestarted ? 0 : _textSent;
                output = new OutputPiece(offset, _text!.ToString(offset, _text.Length - offset));
            }
            generation = _textGeneration;
        }
        if (progress is null && output is null) return;
        if (progress is not null) Interlocked.Exchange(ref _lastProgress, _time.GetTimestamp());
        if (output is not null) Interlocked.Exchange(ref _lastOutput, _time.GetTimestamp());
        bool held;
        try
        {
            held = await _progressWrites.WriteAsync(new RunningWrite(_running.Lease, progress, output));
            _progressWrites.Outage.Succeeded(); // a statement ran (most flushes have nothing due and write nothing)
        }
        catch
        {
            if (progress is not null) lock (_gate) _dirty = true;
            throw;
        }
        if (!held)
        {
            _running.Stop(StopReason.LeaseLost);
            return;
        }
        if (output is not null)
            lock (_gate)
                if (generation == _textGeneration) (_textSent, _textRestarted) = (output.Offset + output.Text.Length, false); // else a new call began meanwhile: it goes from 0
    }

    public ValueTask LogAsync(JobLogLevel level, string message) => WriteLineAsync(level, message, keep: null);

    /// <summary>The state and its line in one write, before it returns: a retry finds the state exactly when its line is in the log.</summary>
    public ValueTask KeepAsync(JsonNode state, string line) => WriteLineAsync(JobLogLevel.Info, line, JsonText.ForStorage(state));

    public async ValueTask<JsonNode?> KeptAsync() =>
        await ThroughOutageAsync(() => _transitions.ReadKeptAsync(_running.Lease, CancellationToken), "what earlier attempts kept", counted: null)
            is { } kept ? JsonNode.Parse(kept) : null;

    async ValueTask WriteLineAsync(JobLogLevel level, string message, string? keep)
    {
        if (_closed) return;
        var name = level switch { JobLogLevel.Warning => "warning", JobLogLevel.Error => "error", _ => "info" };
        _log.Log(level switch { JobLogLevel.Warning => LogLevel.Warning, JobLogLevel.Error => LogLevel.Error, _ => LogLevel.Information },
            "Job log: {JobLogMessage}", message);
        await WriteNowAsync(new RunningWrite(_running.Lease, null, null, new LogLine(name, JsonText.Storable(message.Clip(10_000)), Story.RecordedSpan()), Keep: keep));
    }

    /// <summary>Written before it returns (a model call is seconds long), in the worker's next batch: the totals grow while the job runs, and the call is told in the log.</summary>
    public async ValueTask RecordUsageAsync(UsageRecord usage)
    {
        if (_closed) return;
        string detail;
        lock (_gate)
        {
            (_calls ??= []).Add(usage);
            detail = UsageDetail.ToJson(_calls);
        }
        await WriteNowAsync(new RunningWrite(_running.Lease, null, null, Usage: new UsageWrite(usage, detail)));
    }

    /// <summary>
    /// A log line or a model call's usage, written before the handler goes on, in its turn after
    /// any write of this job under way, with other jobs' writes (a model call's lines come from
    /// hundreds of jobs at once). A refused write means the lease is lost. Through a database
    /// outage the handler waits while the lease may still be this worker's, as the outcome does
    /// (<see cref="JobRunner"/>): thrown into the handler, a blip failed the attempt and the
    /// model call it had just paid for was made again.
    /// </summary>
    async Task WriteNowAsync(RunningWrite write)
    {
        await Writing.WaitAsync();
        try
        {
            if (!await ThroughOutageAsync(() => _progressWrites.WriteAsync(write), write.Usage is null ? "log line" : "model usage",
                    counted: write.Usage is null ? "log" : "usage"))
                _running.Stop(StopReason.LeaseLost);
        }
        finally
        {
            _writing!.Release();
        }
    }

    /// <summary>
    /// A handler's write or read, tried again through a database outage while the lease may still be
    /// this worker's, as the outcome is (<see cref="JobRunner"/>); the first failure is told, the
    /// write retries counted (jobservice.worker.outcome_write_retries, tag <paramref name="counted"/>).
    /// </summary>
    async Task<T> ThroughOutageAsync<T>(Func<Task<T>> op, string what, string? counted)
    {
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                return await op();
            }
            catch (Exception e) when (Data.DatabaseErrors.IsUnavailable(e) && _running.LeaseUntil > _time.GetUtcNow().UtcDateTime)
            {
                if (counted is not null) _metrics.OutcomeWriteRetries.Add(1, new KeyValuePair<string, object?>("jobservice.write", counted));
                if (attempt == 1)
                    _log.LogWarning("Job {JobId}'s {What} failed to reach the database: {Error}; trying again while its lease lasts", JobId, what, Data.DatabaseErrors.OneLine(e));
                await Task.Delay(JobRunner.FinishedWorkRetryWait(attempt), CancellationToken);
            }
        }
    }

    /// <summary>The attempt is over: later calls from a handler that ignored its token change nothing.</summary>
    public void Close() => _closed = true;

    /// <summary>
    /// After <see cref="Close"/>: waits out a write already under way (the worker's timer may have
    /// begun one just before), so that no progress write of this job runs beside its outcome (the
    /// two batches would lock the same row: <see cref="JobTransitions.RenewLeasesAsync"/>).
    /// </summary>
    public async Task WritesDoneAsync()
    {
        // None made: no write began (one that begins now finds the context closed, or is a late
        // line from a handler that ignored its token, as it could be before).
        if (Volatile.Read(ref _writing) is not { } writing) return;
        await writing.WaitAsync();
        writing.Release();
    }
}
