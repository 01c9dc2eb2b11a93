using System.Reflection;
using JobService.Data;
using JobService.Hosting;
using JobService.Transitions;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;

namespace JobService.Worker;

/// <summary>
/// This instance's row in <c>workers</c>, written by the worker's own heartbeat (GET /workers and
/// the dashboard's Workers page read it). A row that stops being written is shown lost after two
/// missed beats; rows not seen for a day are deleted by whichever instance beats next.
/// </summary>
public sealed class WorkerHeartbeats(JobsConnections connections, IJobDriver driver, TimeProvider time, IOptions<WorkerOptions> worker,
    IOptions<ServiceOptions> service)
{
    public const string Active = "active", Draining = "draining", Lost = "lost";
    static readonly TimeSpan ForgetAfter = TimeSpan.FromDays(1);
    static readonly string Version = typeof(WorkerHeartbeats).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion ?? "unknown";
    DateTime? _startedAt;

    /// <summary>
    /// Writes (or first inserts) this worker's row: seen now, its busy slots, active or draining; and
    /// forgets rows not seen for a day: an upsert both databases read alike, on a plain connection
    /// (<see cref="JobsConnections"/>: the first beat is on the way to the first claim).
    /// </summary>
    public async Task BeatAsync(string workerId, int busy, bool draining, CancellationToken ct)
    {
        var now = time.GetUtcNow().UtcDateTime;
        var startedAt = _startedAt ??= now;
        var state = draining ? Draining : Active;
        await ExecuteAsync("""
            INSERT INTO workers (id, host, version, role, state, started_at, last_seen_at, heartbeat_seconds, slots, busy)
            VALUES (@id, @host, @version, @role, @state, @started_at, @now, @heartbeat_seconds, @slots, @busy)
            ON CONFLICT (id) DO UPDATE SET last_seen_at = excluded.last_seen_at, busy = excluded.busy, state = excluded.state;
            DELETE FROM workers WHERE last_seen_at < @forget_before
            """, ct, ("id", workerId), ("host", Environment.MachineName.Clip(200)), ("version", Version.Clip(100)), ("role", service.Value.Role),
            ("state", state), ("started_at", startedAt), ("now", now), ("heartbeat_seconds", worker.Value.HeartbeatSeconds),
            ("slots", worker.Value.Concurrency), ("busy", busy), ("forget_before", now - ForgetAfter));
    }

    /// <summary>A worker that stopped cleanly leaves the table.</summary>
    public Task GoneAsync(string workerId, CancellationToken ct) => ExecuteAsync("DELETE FROM workers WHERE id = @id", ct, ("id", workerId));

    Task ExecuteAsync(string sql, CancellationToken ct, params (string Name, object? Value)[] parameters) =>
        connections.ExecuteAsync(sql, ct, driver, parameters);

    /// <summary>The state to show: lost once two beats were missed, whatever the row last said.</summary>
    public static string StateOf(WorkerInstance w, DateTime now) =>
        now - w.LastSeenAt > TimeSpan.FromSeconds(2 * w.HeartbeatSeconds) ? Lost : w.State;
}
