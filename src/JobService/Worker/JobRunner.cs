using JobService.Data;
using JobService.Events;
using JobService.Handlers;
using JobService.Observability;
using JobService.Transitions;
using Microsoft.Extensions.Options;

namespace JobService.Worker;

/// <summary>
/// Runs one attempt of one claimed job in a DI scope of its own and records the outcome.
/// The handler's token fires on cancel, timeout, lost lease or shutdown; which one decides
/// the outcome: cancelled, retried ("timed out after …"), nothing (the lease is someone
/// else's now), or handed back without spending the attempt.
/// </summary>
public sealed class JobRunner(
    JobTypeRegistry registry,
    IServiceScopeFactory scopes,
    JobTransitions transitions,
    CompletionBatcher completions,
    ProgressBatcher progressWrites,
    RunningJobs held,
    TimeProvider time,
    IOptions<WorkerOptions> options,
    IOptions<EventsOptions> events,
    Hosting.JobServiceMetrics metrics,
    ILogger<JobRunner> log)
{
    /// <summary>After its token fired, how long a handler gets to unwind (an LLM call records what it spent) before the outcome is written.</summary>
    static readonly TimeSpan UnwindGrace = TimeSpan.FromSeconds(2);

    readonly RetryBackoff _backoff = RetryBackoff.From(options.Value);
    readonly TimeSpan _progressInterval = TimeSpan.FromMilliseconds(options.Value.ProgressIntervalMs);
    readonly TimeSpan _outputInterval = TimeSpan.FromMilliseconds(events.Value.OutputFlushMs);

    /// <summary>Runs the attempt in a <c>process {type}</c> span linked to <paramref name="traceParent"/>, the request that created the job.</summary>
    public async Task RunAsync(RunningJob running, string? traceParent = null)
    {
        var job = running.Job;
        using var activity = JobTracing.StartProcess(job, traceParent);
        AttemptLog.Enter(job);
        var type = registry.Find(job.Type)!; // claims only ask for registered types
        var token = running.Token;
        var context = new JobContext(running, token, progressWrites, time, _progressInterval, _outputInterval, log, metrics, transitions);
        running.Context = context;
        // The timeout is one more reason to stop the job's own token: no second token, and none linked
        // to it, for every job (three objects with their registrations, about 7 % of a drain's bytes).
        var timeout = time.CreateTimer(static run => ((RunningJob)run!).Stop(StopReason.TimedOut), running,
            TimeSpan.FromSeconds(type.TimeoutSeconds), Timeout.InfiniteTimeSpan);

        Func<Task<bool>> record;
        Task<System.Text.Json.Nodes.JsonNode?>? handling = null;
        try
        {
            // Claimed ahead, it may have waited for a slot while the database was away: a lease that ran
            // out unrenewed may be another worker's now, so the handler does not start.
            if (running.LeaseUntil <= time.GetUtcNow().UtcDateTime) running.Stop(StopReason.LeaseLost);
            running.Token.ThrowIfCancellationRequested(); // stopped while it waited for a slot: the handler never starts
            await using var scope = scopes.CreateAsyncScope();
            var handler = type.CreateHandler(scope.ServiceProvider);
            handling = handler.ExecuteAsync(context);
            // WaitAsync: a handler that ignores its token still loses the job when the token fires.
            var result = await handling.WaitAsync(token);
            var json = result is null ? null : JsonText.ForStorage(result);
            await context.FlushAsync(all: true); // watchers see all of the text before the job completes
            record = () => completions.CompleteAsync(new Completion(running.Lease, json, running.Job.HasCallback));
        }
        catch (Exception e) when (token.IsCancellationRequested)
        {
            if (handling is not null) await Task.WhenAny(handling, Task.Delay(UnwindGrace)); // what it spent gets recorded
            record = running.Reason switch
            {
                StopReason.Cancelled => () => Finish(running, JobStatus.Cancelled, "Cancelled while running", null,
                    handling is null ? "Cancelled while running: before its handler started" : "Cancelled while running: the handler stopped"),
                StopReason.Shutdown => async () => await transitions.HandBackAsync(running.Lease, CancellationToken.None) is not null,
                StopReason.SlotsBusy => async () => await transitions.HandBackAsync(running.Lease, CancellationToken.None, slotsBusy: true) is not null,
                StopReason.LeaseLost => () => Task.FromResult(false),
                _ /* TimedOut */ => () => AttemptOutcomes.TimedOutAsync(() => Failed(running, $"Timed out after {type.TimeoutSeconds} s.", retryable: true, e)),
            };
            if (running.Reason is StopReason.TimedOut) JobTracing.Failed(activity, e, AttemptOutcomes.Timeout);
        }
        catch (NonRetryableJobException e)
        {
            JobTracing.Failed(activity, e);
            record = () => Failed(running, e.Message, retryable: false, e);
        }
        catch (ServiceUnavailableJobException e)
        {
            // A service the job needs is down: no fault of the job, so its attempt is not spent (an
            // outage used up every queued job's attempts, about 50 s each). It waits, pending, and
            // is told why in its error.
            JobTracing.Failed(activity, e);
            record = () => HandedBackUnavailableAsync(running, e);
        }
        catch (RetryAfterJobException e)
        {
            JobTracing.Failed(activity, e);
            record = () => Failed(running, e.Message, retryable: true, e, notBefore: e.After);
        }
        catch (Exception e) when (held.Closed && Llm.LlmClient.NoAnswer(e))
        {
            // Its worker is stopping and the model provider gave no answer (its call's retries ran out
            // in the grace period): handed back, not spent, as what the grace period ends is. Spent, a
            // rolling deploy during a provider outage failed every job its workers held, no job's fault.
            JobTracing.Failed(activity, e);
            record = () => HandedBackAfterAsync(running, e.Message);
        }
        catch (Exception e)
        {
            JobTracing.Failed(activity, e);
            record = () => Failed(running, e.Message, retryable: true, e);
        }
        finally
        {
            timeout.Dispose(); // the handler is done: its outcome is written whatever the time
            context.Close();
            held.HandlerDone(running); // the slot is free while the outcome is written
        }

        await context.WritesDoneAsync();
        if (!await RecordAsync(running, record))
            log.LogWarning("Job {JobId} attempt {Attempt}: this worker no longer holds it, so its outcome was not written", job.Id, job.Attempt);
    }

    async Task<bool> HandedBackAfterAsync(RunningJob running, string error)
    {
        var back = await transitions.HandBackAsync(running.Lease, CancellationToken.None);
        if (back is { Status: JobStatus.Pending })
            log.LogWarning("Attempt {Attempt} of {MaxAttempts} got no answer from the model provider while this worker was stopping ({Error}); handed back without spending it",
                running.Job.Attempt, running.Job.MaxAttempts, error);
        return back is not null;
    }

    async Task<bool> HandedBackUnavailableAsync(RunningJob running, ServiceUnavailableJobException e)
    {
        var back = await transitions.HandBackUnavailableAsync(running.Lease, e.After, e.Message, CancellationToken.None);
        if (back is { Status: JobStatus.Pending }) // one line a job at Debug: the outage itself is told once, by what found it
            log.LogDebug("Attempt {Attempt} of {MaxAttempts} handed back without spending it, to run again in {After:0.#} s: {Error}",
                running.Job.Attempt, running.Job.MaxAttempts, e.After.TotalSeconds, e.Message);
        return back is not null;
    }

    async Task<bool> Failed(RunningJob running, string error, bool retryable, Exception e, TimeSpan? notBefore = null)
    {
        var job = running.Job;
        // Logged once the outcome is written, as it was written: a write that fails is tried again
        // (RecordAsync); a cancel asked for meanwhile wins over a retry; and a job whose lease ran out
        // is the rescuer's, not retried from here (its error is still told, with its stack trace).
        if (retryable && job.Attempt < job.MaxAttempts)
        {
            var delay = _backoff.After(job.Attempt);
            if (notBefore > delay) delay = notBefore.Value; // what the provider asked for, if longer
            var row = await transitions.RetryLaterAsync(running.Lease, delay,
                $"Attempt {job.Attempt} of {job.MaxAttempts} failed; retrying in {delay.TotalSeconds:0.#} s", error, CancellationToken.None);
            if (row is { Status: JobStatus.Pending })
                log.LogWarning(Unexpected(e), "Attempt {Attempt} of {MaxAttempts} failed; retrying in {Delay:0.#} s: {Error}", job.Attempt, job.MaxAttempts, delay.TotalSeconds, error);
            else if (row is not null) log.LogInformation("Attempt {Attempt} of {MaxAttempts} failed ({Error}); a cancel was asked for, so it ends cancelled", job.Attempt, job.MaxAttempts, error);
            else LostWith(e, job, error);
            return row is not null;
        }
        var why = retryable ? $"Failed after {job.Attempt} of {job.MaxAttempts} attempts" : "Failed (not retryable)";
        var failed = await Finish(running, JobStatus.Failed, why, error, $"{why}: {error}");
        if (failed) log.LogError(Unexpected(e), "{Message}: {Error}", why, error);
        else LostWith(e, job, error);
        return failed;
    }

    /// <summary>A failure this worker could not write (the job is no longer its own): told here, or it would be nowhere.</summary>
    void LostWith(Exception e, ClaimedJob job, string error) =>
        log.LogWarning(Unexpected(e), "Attempt {Attempt} of {MaxAttempts} failed: {Error}; the job is no longer this worker's, so the failure is not written", job.Attempt, job.MaxAttempts, error);

    /// <summary>
    /// The exception, when its stack trace says something: not for a failure the line words whole (a
    /// handler's NonRetryableJobException, a timeout, a provider's HTTP answer, the database away).
    /// </summary>
    static Exception? Unexpected(Exception e) =>
        e is NonRetryableJobException or OperationCanceledException or System.ClientModel.ClientResultException || DatabaseErrors.IsUnavailable(e) ? null : e;

    /// <summary>How long a write of finished work waits before its next try: 0.25 s, doubling, at most 5 s.</summary>
    internal static TimeSpan FinishedWorkRetryWait(int attempt) => TimeSpan.FromMilliseconds(Math.Min(250 * Math.Pow(2, Math.Min(attempt, 16) - 1), 5_000));

    async Task<bool> Finish(RunningJob running, JobStatus status, string message, string? error, string line) =>
        await transitions.FinishAsync(running.Lease, status, message, error, line, CancellationToken.None) is not null;

    /// <summary>
    /// Finished work is never thrown away: the outcome write is retried, with backoff, for as long
    /// as the lease may still be this worker's (the heartbeat keeps renewing it meanwhile, through
    /// a database outage too). Only once the lease has run out unrenewed is the job let go: then
    /// the rescuer runs it again (at least once, never lost). A job's first failed try and its
    /// written outcome are told; the tries between are counted (jobservice.worker.outcome_write_retries) and
    /// logged at Debug: through an outage every held job logged a line every few seconds.
    /// </summary>
    async Task<bool> RecordAsync(RunningJob running, Func<Task<bool>> record)
    {
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                var written = await record();
                if (attempt > 1) log.LogInformation("Wrote the outcome of job {JobId} at try {Try}", running.Job.Id, attempt);
                return written;
            }
            catch (Exception e) when (running.LeaseUntil > time.GetUtcNow().UtcDateTime)
            {
                var wait = FinishedWorkRetryWait(attempt);
                metrics.OutcomeWriteRetries.Add(1, new KeyValuePair<string, object?>("jobservice.write", "outcome"));
                var level = attempt == 1 ? LogLevel.Warning : LogLevel.Debug;
                if (DatabaseErrors.IsUnavailable(e))
                    log.Log(level, "Writing the outcome of job {JobId} failed (try {Try}): {Error}; trying again in {Wait} while its lease lasts",
                        running.Job.Id, attempt, DatabaseErrors.OneLine(e), wait);
                else
                    log.Log(level, e, "Writing the outcome of job {JobId} failed (try {Try}); trying again in {Wait}", running.Job.Id, attempt, wait);
                await Task.Delay(wait);
            }
            catch (Exception e)
            {
                log.LogError("Writing the outcome of job {JobId} failed and its lease ran out unrenewed: leaving it to the rescuer ({Error})",
                    running.Job.Id, DatabaseErrors.OneLine(e));
                return false;
            }
        }
    }
}
