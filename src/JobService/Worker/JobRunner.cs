using System.Text.Json;
using JobService.Data;
using JobService.Handlers;
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
    JobStore store,
    CompletionBatcher completions,
    TimeProvider time,
    IOptions<WorkerOptions> options,
    ILogger<JobRunner> log)
{
    readonly RetryBackoff _backoff = RetryBackoff.From(options.Value);
    readonly TimeSpan _progressInterval = TimeSpan.FromMilliseconds(options.Value.ProgressIntervalMs);

    public async Task RunAsync(RunningJob running)
    {
        var job = running.Job;
        using var logScope = log.BeginScope(new Dictionary<string, object> { ["JobId"] = job.Id, ["JobType"] = job.Type, ["Attempt"] = job.Attempt });
        var type = registry.Find(job.Type)!; // claims only ask for registered types
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(type.TimeoutSeconds), time);
        using var token = CancellationTokenSource.CreateLinkedTokenSource(running.Token, timeout.Token);
        var context = new JobContext(running, token.Token, store, time, _progressInterval, log);
        running.Context = context;

        Func<Task<bool>> record;
        try
        {
            await using var scope = scopes.CreateAsyncScope();
            var handler = type.CreateHandler(scope.ServiceProvider);
            // WaitAsync: a handler that ignores its token still loses the job when the token fires.
            var result = await handler.ExecuteAsync(context).WaitAsync(token.Token);
            var json = result is null ? null : JsonText.ForStorage(result);
            record = () => completions.CompleteAsync(new Completion(running.Lease, json, context.Usage));
        }
        catch (Exception e) when (token.IsCancellationRequested)
        {
            record = running.Reason switch
            {
                StopReason.Cancelled => () => Finish(running, context, JobStatus.Cancelled, "Cancelled while running", null),
                StopReason.Shutdown => () => store.HandBackAsync(running.Lease, context.Usage, CancellationToken.None),
                StopReason.LeaseLost => () => Task.FromResult(false),
                _ => () => Failed(running, context, $"Timed out after {type.TimeoutSeconds} s.", retryable: true, e),
            };
        }
        catch (NonRetryableJobException e)
        {
            record = () => Failed(running, context, e.Message, retryable: false, e);
        }
        catch (Exception e)
        {
            record = () => Failed(running, context, e.Message, retryable: true, e);
        }
        finally
        {
            context.Close();
        }

        if (!await RecordAsync(record))
            log.LogWarning("Job {JobId} attempt {Attempt}: the lease was lost, so its outcome was not written", job.Id, job.Attempt);
    }

    async Task<bool> Failed(RunningJob running, JobContext context, string error, bool retryable, Exception e)
    {
        var job = running.Job;
        if (retryable && job.Attempt < job.MaxAttempts)
        {
            var delay = _backoff.After(job.Attempt);
            var message = $"Attempt {job.Attempt} of {job.MaxAttempts} failed; retrying in {delay.TotalSeconds:0.#} s";
            log.LogWarning(e, "{Message}: {Error}", message, error);
            return await store.RetryLaterAsync(running.Lease, delay, message, error, context.Usage,
                new OutcomeLog("warning", $"{message}: {error}"), CancellationToken.None);
        }
        var why = retryable ? $"Failed after {job.Attempt} of {job.MaxAttempts} attempts" : "Failed (not retryable)";
        log.LogError(e, "{Message}: {Error}", why, error);
        return await Finish(running, context, JobStatus.Failed, why, error);
    }

    async Task<bool> Finish(RunningJob running, JobContext context, JobStatus status, string message, string? error)
    {
        var line = new OutcomeLog(status == JobStatus.Failed ? "error" : "info", error is null ? message : $"{message}: {error}");
        return await store.FinishAsync(running.Lease, status, message, error, context.Progress, context.Usage, line, CancellationToken.None);
    }

    /// <summary>
    /// Retries the outcome write through a short database outage. If it still fails, the job is
    /// let go: its lease expires and the rescuer runs it again (at least once, never lost).
    /// </summary>
    async Task<bool> RecordAsync(Func<Task<bool>> record)
    {
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                return await record();
            }
            catch (Exception e) when (attempt < 4)
            {
                log.LogWarning(e, "Writing a job's outcome failed (try {Try}); trying again", attempt);
                await Task.Delay(TimeSpan.FromMilliseconds(250 * Math.Pow(2, attempt)));
            }
            catch (Exception e)
            {
                log.LogError(e, "Writing a job's outcome failed; leaving it to the lease rescuer");
                return false;
            }
        }
    }
}
