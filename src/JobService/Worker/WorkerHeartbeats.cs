using System.Reflection;
using JobService.Data;
using JobService.Hosting;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;

namespace JobService.Worker;

/// <summary>
/// This instance's row in <c>workers</c>, written by the worker's own heartbeat (GET /workers and
/// the dashboard's Workers page read it). A row that stops being written is shown lost after two
/// missed beats; rows not seen for a day are deleted by whichever instance beats next.
/// </summary>
public sealed class WorkerHeartbeats(IDbContextFactory<JobsDbContext> contexts, TimeProvider time, IOptions<WorkerOptions> worker,
    IOptions<ServiceOptions> service)
{
    public const string Active = "active", Draining = "draining", Lost = "lost";
    static readonly TimeSpan ForgetAfter = TimeSpan.FromDays(1);
    static readonly string Version = typeof(WorkerHeartbeats).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion ?? "unknown";
    DateTime? _startedAt;

    /// <summary>Writes (or first inserts) this worker's row: seen now, its busy slots, active or draining.</summary>
    public async Task BeatAsync(string workerId, int busy, bool draining, CancellationToken ct)
    {
        var now = time.GetUtcNow().UtcDateTime;
        _startedAt ??= now;
        var state = draining ? Draining : Active;
        await using var db = await contexts.CreateDbContextAsync(ct);
        var written = await db.Workers.Where(w => w.Id == workerId)
            .ExecuteUpdateAsync(set => set.SetProperty(w => w.LastSeenAt, now).SetProperty(w => w.Busy, busy).SetProperty(w => w.State, state), ct);
        if (written == 0)
        {
            db.Workers.Add(new WorkerInstance
            {
                Id = workerId, Host = Environment.MachineName, Version = Version.Clip(100), Role = service.Value.Role, State = state,
                StartedAt = _startedAt.Value, LastSeenAt = now, HeartbeatSeconds = worker.Value.HeartbeatSeconds, Slots = worker.Value.Concurrency, Busy = busy,
            });
            await db.SaveChangesAsync(ct);
        }
        var cutoff = now - ForgetAfter;
        await db.Workers.Where(w => w.LastSeenAt < cutoff).ExecuteDeleteAsync(ct);
    }

    /// <summary>A worker that stopped cleanly leaves the table.</summary>
    public async Task GoneAsync(string workerId, CancellationToken ct)
    {
        await using var db = await contexts.CreateDbContextAsync(ct);
        await db.Workers.Where(w => w.Id == workerId).ExecuteDeleteAsync(ct);
    }

    /// <summary>The state to show: lost once two beats were missed, whatever the row last said.</summary>
    public static string StateOf(WorkerInstance w, DateTime now) =>
        now - w.LastSeenAt > TimeSpan.FromSeconds(2 * w.HeartbeatSeconds) ? Lost : w.State;
}
