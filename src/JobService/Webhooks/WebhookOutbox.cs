using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using JobService.Api;
using JobService.Data;
using JobService.Transitions;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;

namespace JobService.Webhooks;

/// <summary>
/// The outbox: a transition that calls for a webhook (a job with a callback_url ended, or
/// started or is retrying when it asked for those) writes the delivery row in its own
/// transaction, so a delivery exists exactly when the change committed, whatever happens to the
/// process next. Jobs without a callback cost nothing here: the transition's row says so.
/// </summary>
public sealed class WebhookOutbox(IOptions<WebhooksOptions> options, WebhookSignal signal) : IJobTransitionHook
{
    public bool MayWriteWithoutCallback => false; // the first line below
    public async Task OnAppliedAsync(TransitionTx tx, IReadOnlyList<AppliedChange> changes, CancellationToken ct)
    {
        var calls = changes.Where(c => c.Row.HasCallback).Select(c => (c.Row.Id, Type: WebhookTypes.Of(c))).Where(c => c.Type is not null).ToList();
        if (calls.Count == 0) return;
        var ids = calls.Select(c => c.Id).ToList();
        var jobs = await tx.Db.Jobs.AsNoTracking().Where(j => ids.Contains(j.Id)).ToDictionaryAsync(j => j.Id, ct);
        var added = 0;
        var first = tx.Now + RetryDelays.Jittered(options.Value.Schedule()[0]); // the schedule's first wait is the first attempt's (0s by default)
        foreach (var (id, type) in calls)
        {
            if (!jobs.TryGetValue(id, out var job) || job.CallbackUrl is null || !WebhookTypes.Wanted(job.CallbackEvents, type!)) continue;
            tx.Db.WebhookDeliveries.Add(new WebhookDelivery
            {
                Id = Guid.CreateVersion7(), JobId = id, TenantId = job.TenantId, EventType = type!, Url = job.CallbackUrl,
                Receiver = CallbackUrls.Receiver(job.CallbackUrl),
                Body = Body(type!, job, tx.Now, options.Value), Status = DeliveryStatus.Pending, NextAttemptAt = first,
                CreatedAt = tx.Now, UpdatedAt = tx.Now,
            });
            added++;
        }
        if (added == 0) return;
        await tx.Db.SaveChangesAsync(ct);
        tx.AfterCommit(signal.Wake);
    }

    /// <summary>
    /// <c>{"type", "timestamp", "data": {"job": …}}</c>: the job as GET /jobs/{id} shows it, without
    /// its payload (unless Webhooks:IncludePayload), and with a result over Webhooks:MaxResultBytes
    /// replaced by null and <c>result_truncated: true</c>.
    /// </summary>
    public static string Body(string type, Job job, DateTime at, WebhooksOptions options)
    {
        var resource = JsonSerializer.SerializeToNode(JobResponse.From(job), JobJson.Options)!.AsObject();
        if (!options.IncludePayload) resource.Remove("payload");
        var truncated = job.Result is not null && Encoding.UTF8.GetByteCount(job.Result) > options.MaxResultBytes;
        if (truncated) resource["result"] = null;
        resource["result_truncated"] = truncated;
        var body = new JsonObject
        {
            ["type"] = type,
            ["timestamp"] = JsonSerializer.SerializeToNode(DateTime.SpecifyKind(at, DateTimeKind.Utc), JobJson.Options),
            ["data"] = new JsonObject { ["job"] = resource },
        };
        return body.ToJsonString(JobJson.Options);
    }
}

/// <summary>What a delivery's status column holds.</summary>
public static class DeliveryStatus
{
    public const string Pending = "pending", Succeeded = "succeeded", Failed = "failed", Gone = "gone", Blocked = "blocked";
}

/// <summary>Wakes this node's dispatcher when a delivery was written here (other nodes find it on their poll).</summary>
public sealed class WebhookSignal
{
    readonly Worker.JobWakeup _wakeup = new();

    public void Wake() => _wakeup.Signal();

    /// <summary>Completes at the next <see cref="Wake"/>; take it before looking for work.</summary>
    public Task Next => _wakeup.Next;
}
