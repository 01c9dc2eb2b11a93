using System.ComponentModel;
using JobService.Auth;
using JobService.Data;
using JobService.Worker;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.EntityFrameworkCore;

namespace JobService.Api;

/// <summary>A job a worker runs, with its progress.</summary>
public sealed record WorkerJob(Guid Id, string Type, int Progress, string? Message);

public sealed record WorkerResponse(
    [property: Description("The worker's id, as its leases carry it (a job's claimed-by).")] string Id,
    string Host, string Version,
    [property: Description("Service:Role: all or worker.")] string Role,
    [property: Description("active; draining (stopping: it claims nothing new); lost (two heartbeats missed: killed, hung or cut off).")] string State,
    DateTime StartedAt, DateTime LastSeenAt, int HeartbeatSeconds,
    [property: Description("Jobs it may run at once (Worker:Concurrency).")] int Slots,
    [property: Description("Jobs it ran at its last heartbeat; for a key bound to one tenant, that tenant's jobs it holds now (a tenant never counts another's).")] int Busy,
    [property: Description("The caller's tenant's jobs it holds now.")] IReadOnlyList<WorkerJob> Jobs);

public sealed record WorkerList(IReadOnlyList<WorkerResponse> Items);

/// <summary>GET /workers: every worker instance from the heartbeat table, newest first.</summary>
public static class WorkersApi
{
    public static IEndpointRouteBuilder MapWorkersApi(this IEndpointRouteBuilder app)
    {
        app.MapGet("/workers", List).WithTags("Workers").WithName("ListWorkers").ProducesProblems(401, 403, 429, 503).Reads()
            .WithSummary("The worker instances, from their heartbeats")
            .WithDescription("Each instance that runs workers writes its row on its heartbeat (Worker:HeartbeatSeconds): host, version, " +
                "role, started, last seen, slots busy of total, and the jobs it holds (the caller's tenant's). One that missed two heartbeats " +
                "is lost; a lost one is forgotten after a day. API-only instances run no workers and are not listed.");
        return app;
    }

    static async Task<Ok<WorkerList>> List(JobsDbContext db, TimeProvider time, System.Security.Claims.ClaimsPrincipal user, CancellationToken ct)
    {
        var now = time.GetUtcNow().UtcDateTime;
        var workers = await db.Workers.AsNoTracking().OrderByDescending(w => w.StartedAt).ThenBy(w => w.Id).ToListAsync(ct);
        var ids = workers.Select(w => w.Id).ToList();
        var tenant = Caller.From(user).JobTenant;
        var running = db.Jobs.AsNoTracking().Where(j => j.Status == JobStatus.Running && ids.Contains(j.LockedBy!));
        if (tenant is not null) running = running.Where(j => j.TenantId == tenant);
        var jobs = (await running.Select(j => new { j.LockedBy, j.Id, j.Type, j.Progress, j.Message }).ToListAsync(ct))
            .ToLookup(j => j.LockedBy!, j => new WorkerJob(j.Id, j.Type, j.Progress, j.Message));
        return TypedResults.Ok(new WorkerList(workers.Select(w =>
        {
            var held = jobs[w.Id].ToList();
            return new WorkerResponse(w.Id, w.Host, w.Version, w.Role, WorkerHeartbeats.StateOf(w, now),
                w.StartedAt, w.LastSeenAt, w.HeartbeatSeconds, w.Slots, tenant is null ? w.Busy : held.Count, held);
        }).ToList()));
    }
}
