using System.ComponentModel;
using JobService.Api;
using JobService.Auth;
using JobService.Data;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Mvc;
using Microsoft.EntityFrameworkCore;

namespace JobService.Webhooks;

public sealed record WebhookAttemptResponse(int Number, DateTime StartedAt, int DurationMs, int? ResponseStatus, string? Error, string? ResponseBody);

public sealed record DeliveryResponse(Guid Id, Guid JobId, string EventType, string Url, string Status, int Attempts,
    [property: Description("When a pending delivery is tried next; null while an attempt is under way (sending) and once it has ended.")] DateTime? NextAttemptAt,
    int? LastResponseStatus, string? LastError, DateTime CreatedAt, DateTime UpdatedAt, IReadOnlyList<WebhookAttemptResponse> AttemptLog,
    [property: Description("An attempt (number attempts) is being sent now; its outcome joins attempt_log when it ends.")] bool Sending = false)
{
    public static DeliveryResponse From(WebhookDelivery d, IEnumerable<WebhookAttempt> attempts, DateTime now)
    {
        // A sender's claim holds the delivery by pushing next_attempt_at to its lease's end: that is
        // not a next attempt but the one under way (unless the lease ran out: a sender that died, due again).
        var sending = d.Status == DeliveryStatus.Pending && d.LockedBy is not null && d.NextAttemptAt > now;
        return new(d.Id, d.JobId, d.EventType, d.Url, d.Status, d.Attempts, d.Status == DeliveryStatus.Pending && !sending ? d.NextAttemptAt : null,
            d.LastResponseStatus, d.LastError, d.CreatedAt, d.UpdatedAt,
            attempts.OrderBy(a => a.Number).Select(a => new WebhookAttemptResponse(a.Number, a.StartedAt, a.DurationMs, a.ResponseStatus, a.Error, a.ResponseBody))
                .ToList(), sending);
    }
}

public sealed record DeliveryPage(IReadOnlyList<DeliveryResponse> Items);

/// <summary>A signing secret as shown after it was made (the whole secret only by a rotation).</summary>
public sealed record WebhookSecretResponse(string Prefix, DateTime CreatedAt, DateTime? PreviousValidUntil, string? Secret = null);

/// <summary>
/// A job's deliveries, sending one again, and the tenant's signing secret. All tenant-scoped like
/// the jobs API: another tenant's job or delivery is a 404.
/// </summary>
public static class WebhooksApi
{
    public static IEndpointRouteBuilder MapWebhooksApi(this IEndpointRouteBuilder app)
    {
        app.MapGet("/jobs/{id}/deliveries", Deliveries).WithTags("Webhooks").WithName("ListJobDeliveries").ProducesProblems(400, 401, 403, 404, 429)
            .WithSummary("A job's webhook deliveries, with every attempt")
            .WithDescription("Each delivery (its id is the webhook-id header) with its status (pending, succeeded, failed, gone, blocked), " +
                "its next attempt when pending, and each attempt's response status, duration, error and the first 1 KB of the answer.")
            .Reads();
        app.MapPost("/deliveries/{id}/redeliver", Redeliver).TakesNoBody().WithTags("Webhooks").WithName("RedeliverWebhook").ProducesProblems(400, 401, 403, 404, 429)
            .WithSummary("Send a delivery again now")
            .WithDescription("Whatever its state, with the same webhook-id and body (receivers drop duplicates by webhook-id). If this attempt " +
                "fails, the retry schedule goes on from where the delivery had got to.")
            .RequireAuthorization(Scope.JobsWrite).RequireRateLimiting(AuthSetup.ReadLimit);
        app.MapGet("/webhook-secret", Secret).WithTags("Webhooks").WithName("GetWebhookSecret").ProducesProblems(401, 403, 404, 429)
            .WithSummary("Which secret signs this tenant's webhooks (its prefix only)")
            .WithDescription("whsec_ and the first characters of the current secret, and until when the previous one also signs after a rotation. " +
                "404 before the tenant has one: POST /webhook-secret/rotate makes it.")
            .Reads();
        app.MapPost("/webhook-secret/rotate", Rotate).TakesNoBody().WithTags("Webhooks").WithName("RotateWebhookSecret").ProducesProblems(401, 403, 409, 429)
            .WithSummary("A new signing secret (shown once)")
            .WithDescription("The answer is the only time the secret is shown. The old secret keeps signing beside it (two signatures in " +
                "webhook-signature) for Webhooks:RotationOverlapHours, so a receiver can switch over without failing a delivery.")
            .RequireAuthorization(Scope.JobsWrite).RequireRateLimiting(AuthSetup.ReadLimit);
        return app;
    }

    static async Task<Results<Ok<DeliveryPage>, ProblemHttpResult>> Deliveries(Guid id, [AsParameters] JobsServices s, CancellationToken ct)
    {
        if (await s.FindJobAsync(id, ct) is null) return JobProblems.NotFound(id);
        // Attempts first: a delivery's state is then never older than its log (an attempt and the state it led to commit together).
        var ofJob = s.Db.WebhookDeliveries.Where(d => d.JobId == id).Select(d => d.Id);
        var attempts = (await s.Db.WebhookAttempts.AsNoTracking().Where(a => ofJob.Contains(a.DeliveryId)).ToListAsync(ct)).ToLookup(a => a.DeliveryId);
        var deliveries = await s.Db.WebhookDeliveries.AsNoTracking().Where(d => d.JobId == id).OrderBy(d => d.CreatedAt).ToListAsync(ct);
        return TypedResults.Ok(new DeliveryPage(deliveries.Select(d => DeliveryResponse.From(d, attempts[d.Id], s.Now)).ToList()));
    }

    static async Task<Results<Accepted<DeliveryResponse>, ProblemHttpResult>> Redeliver(Guid id, [AsParameters] JobsServices s, WebhookStore store,
        WebhookSignal signal, CancellationToken ct)
    {
        if (await store.RedeliverAsync(id, s.Caller.JobTenant, ct) is not { } delivery)
            return TypedResults.Problem(title: "Delivery not found", detail: $"There is no webhook delivery with id {id}.", statusCode: StatusCodes.Status404NotFound);
        signal.Wake();
        var attempts = await s.Db.WebhookAttempts.AsNoTracking().Where(a => a.DeliveryId == id).ToListAsync(ct);
        return TypedResults.Accepted($"/jobs/{delivery.JobId}/deliveries", DeliveryResponse.From(delivery, attempts, s.Now));
    }

    static async Task<Results<Ok<WebhookSecretResponse>, ProblemHttpResult>> Secret(WebhookSecrets secrets, System.Security.Claims.ClaimsPrincipal user,
        TimeProvider time, CancellationToken ct)
    {
        // A read only reads: a secret made here could never be shown (only a rotation shows one).
        if (await secrets.FindAsync(Caller.From(user).TenantId, ct) is not { } row)
            return TypedResults.Problem(title: "No webhook secret yet",
                detail: "This tenant has no signing secret yet. POST /webhook-secret/rotate makes one and shows it once.", statusCode: StatusCodes.Status404NotFound);
        return TypedResults.Ok(new WebhookSecretResponse(WebhookSecrets.Shown(row.Secret), row.CreatedAt,
            row.PreviousUntil > time.GetUtcNow().UtcDateTime ? row.PreviousUntil : null));
    }

    static async Task<Results<Ok<WebhookSecretResponse>, ProblemHttpResult>> Rotate(WebhookSecrets secrets, System.Security.Claims.ClaimsPrincipal user,
        [FromQuery(Name = "drop_previous"), Description("Rotate even while an earlier rotation's overlap runs: the secret before the current one stops signing at once.")]
        bool? dropPrevious, CancellationToken ct)
    {
        try
        {
            var row = await secrets.RotateAsync(Caller.From(user).TenantId, dropPrevious ?? false, ct);
            return TypedResults.Ok(new WebhookSecretResponse(WebhookSecrets.Shown(row.Secret), row.CreatedAt, row.PreviousUntil, row.Secret));
        }
        catch (RotationOverlapException e)
        {
            // A retried rotate whose answer was lost would otherwise cut short the secret receivers were promised.
            return TypedResults.Problem(title: "A rotation's overlap is running", statusCode: StatusCodes.Status409Conflict,
                detail: $"The previous secret signs beside the current one until {e.Until:O}, as its rotation said; rotating again now would stop it " +
                        "at once, and receivers still on it would refuse deliveries. Rotate after that time, or, if the current secret leaked " +
                        "(or the last rotation's answer was lost), POST /webhook-secret/rotate?drop_previous=true.",
                extensions: new Dictionary<string, object?> { ["previous_valid_until"] = e.Until });
        }
        catch (DbUpdateConcurrencyException e)
        {
            return TypedResults.Problem(title: "Rotated meanwhile", detail: e.Message + " Read GET /webhook-secret and rotate again if you need to.",
                statusCode: StatusCodes.Status409Conflict);
        }
    }
}
