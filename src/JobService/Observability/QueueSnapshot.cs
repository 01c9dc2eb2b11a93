using System.Diagnostics;
using JobService.Data;
using JobService.Hosting;
using Microsoft.Extensions.Options;

namespace JobService.Observability;

/// <summary>
/// The jobs table in one GROUP BY (type, status): the counts, and per group the oldest moment a
/// due job has been waiting since (the later of created_at and run_at); and the webhook deliveries
/// still to be sent (<see cref="Backlog"/>). Read at most every
/// Metrics:GaugeCacheSeconds, however many exporters collect, so scrapes cost the database one
/// aggregate query per interval; while the database is not ready, or when the read fails, there
/// is nothing to report (a gap, not a stale value an alert would trust).
/// </summary>
public sealed class QueueSnapshot(
    JobsConnections connections, Transitions.IJobDriver driver, DatabaseReady database, TimeProvider time, IOptions<MetricsOptions> options, ILogger<QueueSnapshot> log)
{
    public sealed record Group(string Type, JobStatus Status, int Count, DateTime? OldestDueSince);

    /// <summary>
    /// Webhook deliveries not yet sent or given up: due now (a sender may take them), being sent (a
    /// sender holds them), waiting for a scheduled retry, and since when the oldest due one has been due.
    /// </summary>
    public sealed record Backlog(int Due, int Sending, int Waiting, DateTime? OldestDueSince);

    /// <summary>The groups and the clock reading they were read at.</summary>
    public sealed record Snapshot(IReadOnlyList<Group> Groups, DateTime ReadAt, Backlog? Webhooks = null)
    {
        public static readonly Snapshot Empty = new([], default);
    }

    readonly Lock _gate = new();
    readonly long _maxAge = options.Value.GaugeCacheSeconds * Stopwatch.Frequency;
    Snapshot _last = Snapshot.Empty;
    long _readAt;
    bool _failing;

    /// <summary>Synchronous: gauges are collected in a callback. A read is one short query, at most once per cache interval.</summary>
    public Snapshot Current()
    {
        lock (_gate)
        {
            if (_readAt != 0 && Stopwatch.GetTimestamp() - _readAt < _maxAge) return _last;
            if (!database.IsReady) return Snapshot.Empty;
            try
            {
                _last = Read();
                _failing = false;
            }
            catch (Exception e)
            {
                if (!_failing) log.LogWarning("Reading the job counts for the gauges failed: {Error}", DatabaseErrors.OneLine(e));
                _failing = true;
                _last = Snapshot.Empty;
            }
            _readAt = Stopwatch.GetTimestamp();
            return _last;
        }
    }

    /// <summary>
    /// Plain SQL (<see cref="JobsConnections"/>), so that a scraped worker does not start EF Core.
    /// Only the pending group's oldest is used: a due job waits since it was created or became
    /// due, whichever is later.
    /// </summary>
    Snapshot Read()
    {
        var now = time.GetUtcNow().UtcDateTime;
        var groups = connections.Query("""
            SELECT type, status, COUNT(*),
                MIN(CASE WHEN run_at <= @now THEN CASE WHEN run_at > created_at THEN run_at ELSE created_at END END)
            FROM jobs GROUP BY type, status
            """, r => new Group(r.GetString(0), Transitions.JobRow.ParseStatus(r.GetString(1)), Convert.ToInt32(r.GetValue(2)),
                r.IsDBNull(3) ? null : Transitions.JobRow.Utc(r.GetDateTime(3))), driver, ("now", now));
        // The dispatcher's index (status, next_attempt_at) answers it: the pending rows alone.
        // A sender holds a delivery (locked_by) with next_attempt_at at its lease's end: sending, not waiting.
        var webhooks = connections.Query("""
            SELECT COUNT(CASE WHEN locked_by IS NULL AND next_attempt_at <= @now THEN 1 END), COUNT(locked_by), COUNT(*),
                MIN(CASE WHEN locked_by IS NULL AND next_attempt_at <= @now THEN next_attempt_at END)
            FROM webhook_deliveries WHERE status = 'pending'
            """, r => (Due: Convert.ToInt32(r.GetValue(0)), Sending: Convert.ToInt32(r.GetValue(1)), All: Convert.ToInt32(r.GetValue(2)),
                Oldest: r.IsDBNull(3) ? (DateTime?)null : Transitions.JobRow.Utc(r.GetDateTime(3))), driver, ("now", now)).Single();
        return new Snapshot(groups, now, new Backlog(webhooks.Due, webhooks.Sending, webhooks.All - webhooks.Due - webhooks.Sending, webhooks.Oldest));
    }
}
