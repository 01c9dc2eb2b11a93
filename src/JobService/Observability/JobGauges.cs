using System.Diagnostics.Metrics;
using JobService.Data;
using JobService.Events;
using JobService.Handlers;
using JobService.Hosting;
using JobService.Worker;

namespace JobService.Observability;

/// <summary>
/// The observable gauges: job counts, the oldest pending age and the webhook backlog (from <see cref="QueueSnapshot"/>),
/// this worker's slots, and this node's open event streams. Created with the MeterProvider (as
/// its instrumentation), so with no exporter there are no callbacks at all.
/// </summary>
public sealed class JobGauges
{
    public JobGauges(JobServiceMetrics metrics, QueueSnapshot queue, JobTypeRegistry registry, EventHub hub, IServiceProvider services)
    {
        var meter = metrics.Meter;
        meter.CreateObservableGauge("jobservice.jobs", () => Counts(queue.Current(), registry), "{job}",
            "Jobs in the database by type and status (one GROUP BY, cached Metrics:GaugeCacheSeconds)");
        meter.CreateObservableGauge("jobservice.oldest_pending_age", () => OldestPending(queue.Current(), registry), "s",
            "How long the oldest due pending job of each type has waited (since the later of created and run_at); 0 when none waits");
        meter.CreateObservableGauge("jobservice.webhook.backlog", () => Webhooks(queue.Current()), "{delivery}",
            "Webhook deliveries not yet sent or given up: state=due (a sender may take it now), sending (a sender holds it) or waiting (a retry scheduled later)");
        meter.CreateObservableGauge("jobservice.webhook.oldest_due_age", () => OldestDueWebhook(queue.Current()), "s",
            "How long the oldest due webhook delivery has been due; 0 when none is");
        meter.CreateObservableGauge("jobservice.sse.connections", () => Streams(hub), "{connection}",
            "Open Server-Sent Events streams on this node: stream=job (GET /jobs/{id}/events) or all (GET /events)");
        if (services.GetService<RunningJobs>() is { } running)
        {
            meter.CreateObservableGauge("jobservice.worker.slots", () => Slots(running, registry), "{slot}",
                "This worker's slots by type: busy (running jobs of the type) and free (how many more of the type it could start now)");
        }
    }

    /// <summary>Every registered type and status, 0 when none, so that a series never disappears when its last job goes.</summary>
    static IEnumerable<Measurement<long>> Counts(QueueSnapshot.Snapshot snapshot, JobTypeRegistry registry)
    {
        if (snapshot.Groups.Count == 0 && snapshot.ReadAt == default) yield break; // not read: report nothing rather than zeros
        var counts = snapshot.Groups.ToDictionary(g => (g.Type, g.Status), g => (long)g.Count);
        foreach (var type in registry.Names.Union(snapshot.Groups.Select(g => g.Type)))
            foreach (var status in Enum.GetValues<JobStatus>())
                yield return new(counts.GetValueOrDefault((type, status)), new("type", type), new("status", status.ToName()));
    }

    static IEnumerable<Measurement<double>> OldestPending(QueueSnapshot.Snapshot snapshot, JobTypeRegistry registry)
    {
        if (snapshot.Groups.Count == 0 && snapshot.ReadAt == default) yield break;
        var oldest = snapshot.Groups.Where(g => g.Status == JobStatus.Pending && g.OldestDueSince is not null)
            .ToDictionary(g => g.Type, g => g.OldestDueSince!.Value);
        foreach (var type in registry.Names.Union(snapshot.Groups.Select(g => g.Type)))
            yield return new(oldest.TryGetValue(type, out var since) ? Math.Max(0, (snapshot.ReadAt - since).TotalSeconds) : 0, new KeyValuePair<string, object?>("type", type));
    }

    static IEnumerable<Measurement<int>> Webhooks(QueueSnapshot.Snapshot snapshot) => snapshot.Webhooks is { } w
        ? [new(w.Due, new KeyValuePair<string, object?>("state", "due")), new(w.Sending, new KeyValuePair<string, object?>("state", "sending")),
           new(w.Waiting, new KeyValuePair<string, object?>("state", "waiting"))]
        : [];

    static IEnumerable<Measurement<double>> OldestDueWebhook(QueueSnapshot.Snapshot snapshot) => snapshot.Webhooks is { } w
        ? [new(w.OldestDueSince is { } since ? Math.Max(0, (snapshot.ReadAt - since).TotalSeconds) : 0)]
        : [];

    static IEnumerable<Measurement<int>> Streams(EventHub hub)
    {
        var (job, all) = hub.Open;
        return [new(job, new KeyValuePair<string, object?>("stream", "job")), new(all, new KeyValuePair<string, object?>("stream", "all"))];
    }

    static IEnumerable<Measurement<int>> Slots(RunningJobs running, JobTypeRegistry registry)
    {
        var free = running.ClaimRoom(returnedDuringLastClaim: 0);
        foreach (var type in registry.All)
        {
            var mine = running.CountOfType(type.Name);
            var canStart = type.Concurrency > 0 ? Math.Min(free, Math.Max(0, type.Concurrency - mine)) : free;
            yield return new(mine, new("type", type.Name), new("state", "busy"));
            yield return new(canStart, new("type", type.Name), new("state", "free"));
        }
    }
}
