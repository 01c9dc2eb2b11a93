using System.ComponentModel;
using System.Text.Json.Nodes;
using JobService.Auth;
using JobService.Data;
using JobService.Transitions;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;

namespace JobService.Api;

/// <summary>The filter of a bulk action: the same filters as GET /jobs, as JSON.</summary>
public sealed record BulkFilter(
    [property: Description("One or more of pending, running, completed, failed, cancelled.")] IReadOnlyList<string>? Status = null,
    [property: Description("One or more job types.")] IReadOnlyList<string>? Type = null,
    [property: Description("Jobs created at or after this time.")] DateTimeOffset? CreatedAfter = null,
    [property: Description("Jobs created before this time.")] DateTimeOffset? CreatedBefore = null,
    [property: Description("The start of a job id (hexadecimal digits, with the id's dashes).")] string? IdPrefix = null,
    [property: Description("Payload fields by containment: {\"theme\": \"fantasy\"}; strings, numbers and booleans, nested objects for paths.")] JsonObject? Payload = null,
    [property: Description("Admin keys only: another tenant's jobs, or * for every tenant.")] string? TenantId = null);

/// <summary>The body of POST /jobs/bulk/{action}: ids, or a filter with the most jobs to touch.</summary>
public sealed record BulkRequest(
    [property: Description("1 to 1,000 job ids. Give ids or filter, not both.")] IReadOnlyList<Guid>? Ids = null,
    [property: Description("Every job matching this filter, newest first, up to max.")] BulkFilter? Filter = null,
    [property: Description("With filter: at most this many jobs are touched (1 to 10,000, default 10,000).")] int? Max = null,
    [property: Description("With filter: how many matching jobs a person was shown and confirmed. If another number matches now, nothing " +
        "is done: 409 with matched, the count now, to confirm again.")] int? Confirmed = null);

/// <summary>A job the action left alone, and why.</summary>
public sealed record BulkSkip(Guid Id, JobStatus? Status, string Reason);

public sealed record BulkResponse(
    [property: Description("Jobs the ids named that exist, or that the filter matched.")] int Matched,
    [property: Description("Jobs changed.")] int Affected,
    [property: Description("Jobs left alone: their status does not allow the action, or they do not exist.")] IReadOnlyList<BulkSkip> Skipped);

/// <summary>
/// POST /jobs/bulk/{cancel|retry|delete}: one action on many jobs, by ids or by filter. The jobs
/// are read and changed in batches of Dashboard:BulkBatchSize, each batch in one transaction through
/// the transition seam (the single-job endpoints' guarded statements, over a list of ids, with an
/// event per job), so streams and webhooks see each job change, and a job that changed meanwhile is
/// skipped, never forced. Each call writes one log line: who, what, how many.
/// </summary>
public static class BulkJobsApi
{
    public const int MaxIds = 1_000, MaxFilterJobs = 10_000;

    /// <summary>An action: the statuses it applies to, and the transition that does it to a batch (the rows it changed).</summary>
    sealed record BulkAction(string Name, JobStatus[] From,
        Func<JobTransitions, JobsDbContext, IReadOnlyCollection<Guid>, int, CancellationToken, Task<IReadOnlyList<JobRow>>> Apply);

    static readonly BulkAction CancelAction = new("cancel", [JobStatus.Pending, JobStatus.Running], (t, db, ids, _, ct) => t.CancelAsync(db, ids, ct));
    static readonly BulkAction RetryAction = new("retry", [JobStatus.Failed, JobStatus.Cancelled],
        (t, db, ids, maxActive, ct) => t.RequeueAsync(db, ids, "POST /jobs/bulk/retry", maxActive, ct));
    static readonly BulkAction DeleteAction = new("delete", [JobStatus.Completed, JobStatus.Failed, JobStatus.Cancelled], (t, db, ids, _, ct) => t.DeleteAsync(db, ids, ct));

    public static IEndpointRouteBuilder MapBulkJobsApi(this IEndpointRouteBuilder app)
    {
        var bulk = app.MapGroup("/jobs/bulk").WithTags("Jobs").ProducesProblems(400, 401, 403, 409, 413, 415, 429, 503)
            .RequireAuthorization(Scope.JobsWrite).RequireRateLimiting(AuthSetup.ReadLimit);
        bulk.MapPost("/cancel", (BulkRequest body, [AsParameters] BulkServices s, CancellationToken ct) => RunAsync(CancelAction, body, s, ct))
            .WithName("BulkCancelJobs").WithSummary("Cancel many jobs")
            .WithDescription("By ids (1 to 1,000) or by filter (up to max, newest first): pending jobs are cancelled at once, running ones are " +
                "asked to stop. Others are skipped with their status. {matched, affected, skipped: [{id, status, reason}]}.");
        bulk.MapPost("/retry", (BulkRequest body, [AsParameters] BulkServices s, CancellationToken ct) => RunAsync(RetryAction, body, s, ct))
            .WithName("BulkRetryJobs").WithSummary("Run many failed or cancelled jobs again")
            .WithDescription("By ids or by filter: failed and cancelled jobs go back to pending with fresh attempts; others are skipped with their status.");
        bulk.MapPost("/delete", (BulkRequest body, [AsParameters] BulkServices s, CancellationToken ct) => RunAsync(DeleteAction, body, s, ct))
            .WithName("BulkDeleteJobs").WithSummary("Delete many finished jobs")
            .WithDescription("By ids or by filter: completed, failed and cancelled jobs are deleted with their events; pending and running ones are skipped.");
        return app;
    }

    /// <summary>What a bulk action needs, bound as one parameter.</summary>
    public sealed record BulkServices(JobsDbContext Db, JobTransitions Transitions, ReadDialect Dialect, IOptions<Dashboard.DashboardOptions> Options,
        IOptions<TenantOptions> Tenants, ILoggerFactory Logs, System.Security.Claims.ClaimsPrincipal User);

    static async Task<Results<Ok<BulkResponse>, ValidationProblem, ProblemHttpResult>> RunAsync(
        BulkAction action, BulkRequest body, BulkServices s, CancellationToken ct)
    {
        var caller = Caller.From(s.User);
        var errors = new Dictionary<string, string[]>();
        if ((body.Ids is null) == (body.Filter is null)) errors["ids"] = ["Give ids (1 to 1,000 job ids) or filter, one of the two."];
        if (body.Ids is { Count: 0 or > MaxIds }) errors["ids"] = [$"ids holds 1 to {MaxIds:N0} job ids."];
        if (body.Max is < 1 or > MaxFilterJobs) errors["max"] = [$"max must be between 1 and {MaxFilterJobs}."];
        if (body.Ids is not null && body.Max is not null) errors["max"] = ["max goes with filter; ids are acted on as given."];
        if (body.Confirmed is < 0) errors["confirmed"] = ["confirmed is a count of jobs, 0 or more."];
        else if (body.Ids is not null && body.Confirmed is not null) errors["confirmed"] = ["confirmed goes with filter; ids are acted on as given."];
        var f = body.Filter;
        if (JobProblems.TenantRefusal(caller, f?.TenantId, "filter.tenant_id") is { } refused) return refused;
        var filter = f is null ? null : JobFilter.Parse(f.Status, f.Type, f.CreatedAfter, f.CreatedBefore, f.IdPrefix, f.Payload, errors, "filter.");
        if (errors.Count > 0) return TypedResults.ValidationProblem(errors, title: "The bulk request is invalid");

        List<Guid> targets;
        var skipped = new List<BulkSkip>();
        int matched;
        if (filter is not null)
        {
            var jobs = filter.Apply(s.Db, caller.TenantScope(f!.TenantId), s.Dialect);
            matched = await jobs.CountAsync(ct);
            // Jobs that came to match, or stopped matching, after the count a person confirmed: that person
            // looks again, rather than the action reaching jobs never shown (and leaving some that were).
            if (body.Confirmed is { } confirmed && confirmed != matched)
                return TypedResults.Problem(title: "The matching jobs changed",
                    detail: $"{matched:N0} jobs match the filter now; {confirmed:N0} were confirmed. Nothing was done: look again and confirm the new count.",
                    statusCode: StatusCodes.Status409Conflict, extensions: new Dictionary<string, object?> { ["matched"] = matched });
            targets = await jobs.OrderByDescending(j => j.CreatedAt).ThenByDescending(j => j.Id).Take(body.Max ?? MaxFilterJobs)
                .Select(j => j.Id).ToListAsync(ct);
        }
        else
        {
            var ids = body.Ids!.Distinct().ToList();
            var owned = caller.JobTenant is { } tenant ? s.Db.Jobs.Where(j => j.TenantId == tenant) : s.Db.Jobs;
            var found = (await owned.AsNoTracking().Where(j => ids.Contains(j.Id)).Select(j => j.Id).ToListAsync(ct)).ToHashSet();
            matched = found.Count;
            targets = ids.Where(found.Contains).ToList();
            skipped.AddRange(ids.Where(id => !found.Contains(id)).Select(id => new BulkSkip(id, null, "There is no job with this id.")));
        }

        var affected = 0;
        foreach (var batch in targets.Chunk(s.Options.Value.BulkBatchSize))
        {
            // Read as they stand now (earlier batches took time), then the batch through the seam in
            // one transaction: its guarded statements change only the jobs still in a status they allow.
            var states = await s.Db.Jobs.AsNoTracking().Where(j => batch.Contains(j.Id))
                .Select(j => new { j.Id, j.Status, j.CancelRequested }).ToDictionaryAsync(j => j.Id, ct);
            var eligible = new List<Guid>(batch.Length);
            foreach (var id in batch)
            {
                if (!states.TryGetValue(id, out var job)) skipped.Add(new BulkSkip(id, null, "It was deleted meanwhile."));
                else if (Refusal(action, job.Status, job.CancelRequested) is { } reason) skipped.Add(new BulkSkip(id, job.Status, reason));
                else eligible.Add(id);
            }
            if (eligible.Count == 0) continue;
            HashSet<Guid> changed;
            try
            {
                changed = (await ApplyAsync(action, s, eligible, ct)).Select(r => r.Id).ToHashSet();
            }
            catch (JobTransitions.QuotaExceededException quota)
            {
                // Retried jobs are active again: a batch that would take a tenant past its quota is left as it is,
                // whole, and the next batches are tried (another tenant's, or room made meanwhile).
                skipped.AddRange(eligible.Select(id => new BulkSkip(id, states[id].Status, quota.Message)));
                continue;
            }
            affected += changed.Count;
            var raced = eligible.Where(id => !changed.Contains(id)).ToList();
            if (raced.Count == 0) continue;
            var now = await s.Db.Jobs.AsNoTracking().Where(j => raced.Contains(j.Id)).ToDictionaryAsync(j => j.Id, j => j.Status, ct);
            skipped.AddRange(raced.Select(id => now.TryGetValue(id, out var status)
                ? new BulkSkip(id, status, $"Its status changed to {status.ToName()} meanwhile.")
                : new BulkSkip(id, null, "It was deleted meanwhile.")));
        }
        s.Logs.CreateLogger(typeof(BulkJobsApi)).LogInformation("Bulk {Action} by {Who} (tenant {Tenant}): {Matched} matched, {Affected} affected, {Skipped} skipped",
            action.Name, caller.KeyId is { } key ? $"key {key}" : "anonymous", caller.TenantScope(f?.TenantId) ?? "*", matched, affected, skipped.Count);
        return TypedResults.Ok(new BulkResponse(matched, affected, skipped));
    }

    /// <summary>
    /// One batch's transition. It locks many rows in one transaction, and a worker's multi-row
    /// statement (completions, progress writes) may lock some of them in another order: PostgreSQL
    /// then aborts one of the two as a deadlock. Nothing of the batch was written; it runs again.
    /// </summary>
    static async Task<IReadOnlyList<JobRow>> ApplyAsync(BulkAction action, BulkServices s, List<Guid> ids, CancellationToken ct)
    {
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                return await action.Apply(s.Transitions, s.Db, ids, s.Tenants.Value.QuotaFor(Caller.From(s.User)), ct);
            }
            catch (Exception e) when (attempt < 3 && DatabaseErrors.IsDeadlock(e))
            {
                s.Logs.CreateLogger(typeof(BulkJobsApi)).LogInformation("Bulk {Action}: a batch of {Count} met a deadlock and runs again", action.Name, ids.Count);
            }
        }
    }

    /// <summary>Why the action does not apply to a job in this status, or null when it does.</summary>
    static string? Refusal(BulkAction action, JobStatus status, bool cancelRequested)
    {
        if (!action.From.Contains(status))
            return $"Cannot {action.Name} a {status.ToName()} job: {action.Name} applies to {string.Join(", ", action.From.Select(x => x.ToName()))} jobs.";
        return action == CancelAction && cancelRequested ? "A cancel is already under way." : null;
    }
}
