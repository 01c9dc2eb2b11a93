using JobService.Data;
using JobService.Hosting;
using JobService.Transitions;
using Microsoft.Extensions.Options;

namespace JobService.Webhooks;

/// <summary>
/// Sends due deliveries on every worker node (Webhooks:DeliveryEnabled): claims as many as it
/// has free senders, sends them side by side, and records each outcome: a 2xx succeeded; 410
/// gone (stop); an internal address blocked (stop); anything else (a 3xx included: redirects
/// are not followed), a timeout or a reset, the next wait of Webhooks:RetrySchedule ±10 %, or a
/// 429/503's Retry-After if longer (at most a day); past the schedule, failed. Each outcome is
/// also a line in the job's log.
/// </summary>
public sealed class WebhookDispatcher(
    WebhookStore store, WebhookSender sender, WebhookSignal signal, JobTransitions transitions, DatabaseReady database,
    IOptions<WebhooksOptions> options, TimeProvider time, JobServiceMetrics metrics, ILogger<WebhookDispatcher> log) : BackgroundService
{
    static readonly TimeSpan MaxRetryAfter = TimeSpan.FromHours(24);
    readonly OutageLog _outage = new(log, "Claiming webhook deliveries");
    readonly string _sender = $"{Environment.MachineName}/{Environment.ProcessId}/{Guid.NewGuid().ToString("N")[..8]}";

    protected override async Task ExecuteAsync(CancellationToken stopping)
    {
        var o = options.Value;
        var schedule = o.Schedule();
        if (!o.DeliveryEnabled || !await database.WaitAsync(stopping)) return;
        // A send's lease: its timeout and a margin for writing the outcome.
        var lease = TimeSpan.FromSeconds(o.TimeoutSeconds + o.ConnectTimeoutSeconds + 30);
        var sending = new List<Task>();
        while (!stopping.IsCancellationRequested)
        {
            var woken = signal.Next; // taken before looking, so a wake in between is not lost
            sending.RemoveAll(t => t.IsCompleted);
            var free = o.Concurrency - sending.Count;
            var claimed = 0;
            if (free > 0)
            {
                try
                {
                    var leaseEnds = time.GetUtcNow().UtcDateTime + lease; // no later than the claim's own
                    var due = await store.ClaimAsync(_sender, free, o.ConcurrencyPerReceiver, lease, stopping);
                    _outage.Succeeded();
                    foreach (var delivery in due) sending.Add(SendAsync(delivery, schedule, leaseEnds, stopping));
                    claimed = due.Count;
                }
                catch (Exception e) when (!stopping.IsCancellationRequested)
                {
                    _outage.Failed(e);
                }
            }
            if (claimed > 0) continue; // there may be more due: of receivers past the window, or beyond a full batch
            var poll = Task.Delay(TimeSpan.FromMilliseconds(o.PollIntervalMs), time, stopping);
            await Task.WhenAny([woken, poll, .. sending]).ContinueWith(_ => { }, CancellationToken.None);
        }
        await Task.WhenAll(sending); // each has its own timeout
    }

    async Task SendAsync(DueDelivery delivery, IReadOnlyList<TimeSpan> schedule, DateTime leaseEnds, CancellationToken stopping)
    {
        try
        {
            var startedAt = time.GetUtcNow().UtcDateTime;
            var sent = await sender.SendAsync(delivery, CancellationToken.None); // a send in flight finishes: its outcome must be written
            var outcome = Decide(delivery, sent.Status, sent.Error, sent.Body, sent.RetryAfter, sent.Blocked, sent.DurationMs, schedule);
            if (!await RecordAsync(delivery, startedAt, outcome, leaseEnds, stopping)) return; // redelivered meanwhile, or the lease ran out
            metrics.WebhookDelivered(outcome.Status == DeliveryStatus.Pending ? "retrying" : outcome.Status);
            var (level, line) = Line(delivery, outcome, schedule.Count);
            await transitions.NoteAsync(delivery.JobId, level, line, CancellationToken.None);
        }
        catch (Exception e)
        {
            log.LogWarning("Webhook {DeliveryId} for job {JobId}: {Error}", delivery.Id, delivery.JobId, DatabaseErrors.OneLine(e));
        }
    }

    /// <summary>
    /// Records the attempt, trying again through a database outage while the lease holds, as a
    /// worker does with a job's outcome: given up at once, the lease ran out and a delivery the
    /// receiver had answered was sent again, with the answered attempt missing from its log. Once
    /// the lease is out, or this node stops (the host's stop must not wait out the lease), the
    /// delivery is left to be sent again (at least once, the same webhook-id).
    /// </summary>
    async Task<bool> RecordAsync(DueDelivery delivery, DateTime startedAt, AttemptOutcome outcome, DateTime leaseEnds, CancellationToken stopping)
    {
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                var recorded = await store.RecordAsync(_sender, delivery, startedAt, outcome, CancellationToken.None);
                if (attempt > 1) log.LogInformation("Webhook {DeliveryId} for job {JobId}: recorded the attempt at try {Try}", delivery.Id, delivery.JobId, attempt);
                return recorded;
            }
            catch (Exception e) when (DatabaseErrors.IsUnavailable(e) && time.GetUtcNow().UtcDateTime < leaseEnds && !stopping.IsCancellationRequested)
            {
                var wait = Worker.JobRunner.FinishedWorkRetryWait(attempt);
                metrics.OutcomeWriteRetries.Add(1, new KeyValuePair<string, object?>("jobservice.write", "webhook_attempt"));
                if (attempt == 1)
                    log.LogWarning("Webhook {DeliveryId} for job {JobId}: recording the attempt failed ({Error}); trying again while its lease lasts",
                        delivery.Id, delivery.JobId, DatabaseErrors.OneLine(e));
                await Task.Delay(wait, stopping).ContinueWith(_ => { }, CancellationToken.None); // a stop ends the wait; the filter above then lets go
            }
            catch (Exception e)
            {
                log.LogWarning("Webhook {DeliveryId} for job {JobId}: recording the attempt failed ({Error}); it will be sent again once its lease runs out",
                    delivery.Id, delivery.JobId, DatabaseErrors.OneLine(e));
                return false;
            }
        }
    }

    AttemptOutcome Decide(DueDelivery d, int? status, string? error, string? body, TimeSpan? retryAfter, bool blocked, int ms,
        IReadOnlyList<TimeSpan> schedule)
    {
        if (blocked) return new(DeliveryStatus.Blocked, null, null, error, null, ms);
        if (status is >= 200 and < 300) return new(DeliveryStatus.Succeeded, null, status, null, body, ms);
        if (status == 410) return new(DeliveryStatus.Gone, null, status, "410 Gone: the receiver asked for no more", body, ms);
        error ??= status is >= 300 and < 400 ? $"{status}: a redirect, not followed" : $"{status}";
        if (d.Attempt >= schedule.Count) return new(DeliveryStatus.Failed, null, status, error, body, ms);
        var wait = RetryDelays.Jittered(schedule[d.Attempt]);
        if (status is 429 or 503 && retryAfter > wait) wait = retryAfter.Value < MaxRetryAfter ? retryAfter.Value : MaxRetryAfter;
        return new(DeliveryStatus.Pending, time.GetUtcNow().UtcDateTime + wait, status, error, body, ms);
    }

    static (string Level, string Line) Line(DueDelivery d, AttemptOutcome o, int attempts)
    {
        var host = Uri.TryCreate(d.Url, UriKind.Absolute, out var uri) ? uri.Authority : "its callback_url";
        var what = $"Webhook {d.EventType} ({d.Id}) to {host}";
        return o.Status switch
        {
            DeliveryStatus.Succeeded => ("info", $"{what} delivered: {o.ResponseStatus}, {o.DurationMs} ms, attempt {d.Attempt}"),
            DeliveryStatus.Gone => ("warning", $"{what} stopped: the receiver answered 410 Gone (attempt {d.Attempt})"),
            DeliveryStatus.Blocked => ("error", $"{what} blocked, not sent: {o.Error}"),
            DeliveryStatus.Failed => ("error", $"{what} given up after {d.Attempt} attempts: {o.Error}"),
            _ => ("warning", $"{what} failed: {o.Error} (attempt {d.Attempt} of {attempts}); next attempt at {o.NextAttemptAt:u}"),
        };
    }
}
