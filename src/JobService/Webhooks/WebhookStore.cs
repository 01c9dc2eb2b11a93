using JobService.Data;
using JobService.Transitions;
using Microsoft.EntityFrameworkCore;

namespace JobService.Webhooks;

/// <summary>A delivery as a claim hands it to a sender: <see cref="Attempt"/> is the number of the attempt about to be made.</summary>
public sealed record DueDelivery(Guid Id, Guid JobId, string TenantId, string EventType, string Url, string Body, int Attempt);

/// <summary>How an attempt ended, and what the delivery does next.</summary>
public sealed record AttemptOutcome(string Status, DateTime? NextAttemptAt, int? ResponseStatus, string? Error, string? ResponseBody, int DurationMs);

/// <summary>
/// The deliveries table, claimed like the jobs table: one statement takes due rows (SKIP LOCKED
/// on PostgreSQL) and leases them to this sender by pushing next_attempt_at past the send's
/// timeout; a sender that dies lets the lease run out and the delivery is sent again (same
/// webhook-id: receivers drop the duplicate). Every outcome write is fenced on (sender, attempt).
/// </summary>
public sealed class WebhookStore(JobsConnections connections, IDbContextFactory<JobsDbContext> contexts, IJobDriver driver, TimeProvider time)
{
    DateTime Now => time.GetUtcNow().UtcDateTime;

    /// <summary>Deliveries to the candidate's receiver being sent now, by any node (a sender that died counts until its lease runs out).</summary>
    const string Sending = """
        SELECT count(*) FROM webhook_deliveries AS f
        WHERE f.receiver = d.receiver AND f.locked_by IS NOT NULL AND f.status = 'pending' AND f.next_attempt_at > @now
        """;

    /// <summary>
    /// Takes up to <paramref name="limit"/> due deliveries, oldest first, at most
    /// <paramref name="perReceiver"/> to one receiver counting those being sent: taken oldest first
    /// alone, one slow receiver's backlog filled every sender of the fleet and held everyone's
    /// webhooks behind it (41 s for one that answers at once). The candidates are a window of the
    /// oldest due whose receiver has room, ranked within each receiver.
    /// </summary>
    public async Task<IReadOnlyList<DueDelivery>> ClaimAsync(string sender, int limit, int perReceiver, TimeSpan lease, CancellationToken ct)
    {
        var now = Now;
        await using var tx = await TransitionTx.BeginAsync(connections, driver, now, selfCommitting: false, ct);
        await using var command = tx.Command($"""
            UPDATE webhook_deliveries SET attempts = attempts + 1, locked_by = @sender, next_attempt_at = @lease_until, updated_at = @now
            WHERE id IN (
                SELECT id FROM (
                    SELECT id, next_attempt_at, sending + ROW_NUMBER() OVER (PARTITION BY receiver ORDER BY next_attempt_at, id) AS place
                    FROM (
                        SELECT d.id, d.receiver, d.next_attempt_at, ({Sending}) AS sending
                        FROM webhook_deliveries AS d
                        WHERE d.status = 'pending' AND d.next_attempt_at <= @now AND ({Sending}) < @per_receiver
                        ORDER BY d.next_attempt_at
                        LIMIT @window
                        {driver.SkipLocked}) AS due) AS ranked
                WHERE place <= @per_receiver
                ORDER BY next_attempt_at
                LIMIT @limit)
            RETURNING id, job_id, tenant_id, event_type, url, body, attempts
            """);
        driver.Bind(command, "sender", sender);
        driver.Bind(command, "now", now);
        driver.Bind(command, "lease_until", now + lease);
        driver.Bind(command, "limit", limit);
        driver.Bind(command, "per_receiver", (long)perReceiver);
        driver.Bind(command, "window", limit * perReceiver);
        var due = await tx.RowsAsync(command, r => new DueDelivery(r.GetGuid(0), r.GetGuid(1), r.GetString(2), r.GetString(3), r.GetString(4),
            r.GetString(5), r.GetInt32(6)), ct);
        await tx.CommitAsync(ct);
        return due;
    }

    /// <summary>Records the attempt and the delivery's next state, if this sender still holds it (a redeliver or a lost lease wins).</summary>
    public async Task<bool> RecordAsync(string sender, DueDelivery delivery, DateTime startedAt, AttemptOutcome outcome, CancellationToken ct)
    {
        var now = Now;
        // What the receiver answered is anyone's text: a NUL in it, which PostgreSQL refuses, would
        // fail this record and have the same webhook sent again, without end.
        var (error, body) = (outcome.Error is { } e ? JsonText.Storable(e) : null, outcome.ResponseBody is { } b ? JsonText.Storable(b) : null);
        await using var tx = await TransitionTx.BeginAsync(connections, driver, now, selfCommitting: false, ct);
        await using var update = tx.Command("""
            UPDATE webhook_deliveries SET status = @status, next_attempt_at = @next, locked_by = NULL,
                last_response_status = @response_status, last_error = @error, updated_at = @now
            WHERE id = @id AND locked_by = @sender AND attempts = @attempt
            """);
        foreach (var (name, value) in new (string, object?)[]
        {
            ("status", outcome.Status), ("next", outcome.NextAttemptAt), ("response_status", outcome.ResponseStatus), ("error", error),
            ("now", now), ("id", delivery.Id), ("sender", sender), ("attempt", delivery.Attempt),
        })
            driver.Bind(update, name, value);
        if (await update.ExecutePreparedAsync(ct) == 0) return false;
        tx.Db.WebhookAttempts.Add(new WebhookAttempt
        {
            DeliveryId = delivery.Id, Number = delivery.Attempt, StartedAt = startedAt, DurationMs = outcome.DurationMs,
            ResponseStatus = outcome.ResponseStatus, Error = error, ResponseBody = body,
        });
        await tx.Db.SaveChangesAsync(ct);
        await tx.CommitAsync(ct);
        return true;
    }

    /// <summary>Due again now, whatever its state, with the same webhook-id; a send in flight is fenced out. False when there is no such delivery for the tenant.</summary>
    public async Task<WebhookDelivery?> RedeliverAsync(Guid id, string? tenant, CancellationToken ct)
    {
        var now = Now;
        await using var db = await contexts.CreateDbContextAsync(ct);
        var query = db.WebhookDeliveries.Where(d => d.Id == id);
        if (tenant is not null) query = query.Where(d => d.TenantId == tenant);
        using (await driver.BeginWriteAsync(ct))
        {
            var changed = await query.ExecuteUpdateAsync(u => u
                .SetProperty(d => d.Status, DeliveryStatus.Pending).SetProperty(d => d.NextAttemptAt, now)
                .SetProperty(d => d.LockedBy, (string?)null).SetProperty(d => d.UpdatedAt, now), ct);
            if (changed == 0) return null;
        }
        return await db.WebhookDeliveries.AsNoTracking().SingleAsync(d => d.Id == id, ct);
    }
}
