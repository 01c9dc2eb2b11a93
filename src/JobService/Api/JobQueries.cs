using JobService.Data;
using JobService.Handlers;
using JobService.Transitions;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Mvc;
using Microsoft.EntityFrameworkCore;
using System.Security.Claims;
using JobService.Auth;

namespace JobService.Api;

/// <summary>
/// The read side of /jobs: listing, logs and stats. Filtering, paging and counting all run in
/// SQL; nothing pages a table in memory.
/// </summary>
public static class JobQueries
{
    public const int DefaultLimit = 50;
    public const int MaxLimit = 500;
    /// <summary>Deep OFFSETs scan every skipped row; past this, narrow with created_before.</summary>
    public const int MaxOffset = 100_000;

    [TakesQuery(PayloadFilter.QueryPrefix)]
    public static async Task<Results<Ok<JobPage>, ValidationProblem, ProblemHttpResult>> List(
        [FromQuery(Name = "status")] string[]? status,
        [FromQuery(Name = "type")] string[]? type,
        [FromQuery(Name = "created_after")] DateTimeOffset? createdAfter,
        [FromQuery(Name = "created_before")] DateTimeOffset? createdBefore,
        [FromQuery(Name = "id_prefix")] string? idPrefix,
        [FromQuery(Name = "limit")] int? limit,
        [FromQuery(Name = "offset")] int? offset,
        [FromQuery(Name = "tenant_id")] string? tenantId,
        JobsDbContext db,
        IJobDriver driver,
        ReadDialect dialect,
        HttpRequest request,
        CancellationToken ct)
    {
        var caller = Caller.From(request.HttpContext.User);
        if (JobProblems.TenantRefusal(caller, tenantId) is { } refused) return refused;
        var errors = new Dictionary<string, string[]>();
        var payloadErrors = new List<string>();
        var payload = PayloadFilter.FromQuery(request.Query, payloadErrors); // payload.theme=fantasy
        if (payloadErrors.Count > 0) errors["payload"] = payloadErrors.ToArray();
        var filter = JobFilter.Parse(status is [] ? null : status, type is [] ? null : type, createdAfter, createdBefore, idPrefix, payload, errors); // []: not in the query
        if (limit is < 1 or > MaxLimit) errors["limit"] = [$"limit must be between 1 and {MaxLimit}."];
        if (offset is < 0 or > MaxOffset) errors["offset"] = [$"offset must be between 0 and {MaxOffset}; filter with created_before to go further back."];
        if (errors.Count > 0) return TypedResults.ValidationProblem(errors, title: "The query is invalid");

        var query = filter.Apply(db, caller.TenantScope(tenantId), dialect);
        int take = limit ?? DefaultLimit, skip = offset ?? 0;
        var (total, rows) = await driver.ReadAsync(async token => (
            await query.CountAsync(token),
            await query.OrderByDescending(j => j.CreatedAt).ThenByDescending(j => j.Id).Skip(skip).Take(take).ToListAsync(token)), ct);
        return TypedResults.Ok(new JobPage(rows.Select(JobResponse.From).ToList(), total, take, skip));
    }

    public static async Task<Results<Ok<JobLogPage>, ValidationProblem, ProblemHttpResult>> Logs(
        Guid id,
        [FromQuery(Name = "after")] long? after,
        [FromQuery(Name = "limit")] int? limit,
        JobsDbContext db,
        IJobDriver driver,
        ClaimsPrincipal user,
        CancellationToken ct)
    {
        var tenant = Caller.From(user).JobTenant;
        var errors = new Dictionary<string, string[]>();
        if (limit is < 1 or > 1000) errors["limit"] = ["limit must be between 1 and 1000."];
        if (after is < 0) errors["after"] = ["after must be a sequence number of 0 or more."];
        if (errors.Count > 0) return TypedResults.ValidationProblem(errors, title: "The query is invalid");
        var from = after ?? 0;
        var take = limit ?? 100;
        // The job's log is every event that tells a line: log events, and the service's own story on lifecycle events.
        var (exists, lines) = await driver.ReadAsync(async token => (
            await Of(db, tenant).AnyAsync(j => j.Id == id, token),
            await db.JobEvents.AsNoTracking().Where(e => e.JobId == id && e.Seq > from && e.Message != null)
                .OrderBy(e => e.Seq).Take(take).ToListAsync(token)), ct);
        if (!exists) return JobProblems.NotFound(id);
        var items = lines.Select(Events.EventJson.LogLine).ToList();
        return TypedResults.Ok(new JobLogPage(items, items.Count == take ? items[^1].Seq : null));
    }

    /// <summary>Counts and LLM usage (tokens, cost) by status and by type, from one GROUP BY over (type, status).</summary>
    public static async Task<Results<Ok<JobStatsResponse>, ValidationProblem, ProblemHttpResult>> Stats(
        [FromQuery(Name = "tenant_id")] string? tenantId,
        [FromQuery(Name = "window")] string? window,
        [FromQuery(Name = "bucket")] string? bucket,
        JobsDbContext db, IJobDriver driver, ReadDialect dialect, TimeProvider time, ClaimsPrincipal user, CancellationToken ct)
    {
        var caller = Caller.From(user);
        if (JobProblems.TenantRefusal(caller, tenantId) is { } refused) return refused;
        var (span, step) = (window is null ? null : StatsTimelineQuery.ParseDuration(window), bucket is null ? null : StatsTimelineQuery.ParseDuration(bucket));
        const string Units = "window and bucket are a whole number from 1 up and a unit (s, m, h or d): 90s, 15m, 1h, 7d.";
        var problem = (window, bucket) switch
        {
            (null, null) => null,
            (null, _) => ("window", "window and bucket go together: window=1h&bucket=1m."),
            (_, null) => ("bucket", "window and bucket go together: window=1h&bucket=1m."),
            _ when span is null => ("window", Units),
            _ when step is null => ("bucket", Units),
            _ => StatsTimelineQuery.Check(span!.Value, step!.Value),
        };
        if (problem is var (field, message))
            return TypedResults.ValidationProblem(new Dictionary<string, string[]> { [field] = [message] }, title: "The query is invalid");
        var groups = await driver.ReadAsync(token => Of(db, caller.TenantScope(tenantId))
            .GroupBy(j => new { j.Type, j.Status })
            .Select(g => new
            {
                g.Key.Type, g.Key.Status, Count = g.Count(),
                Prompt = g.Sum(j => (long?)j.PromptTokens) ?? 0, Completion = g.Sum(j => (long?)j.CompletionTokens) ?? 0,
                Cost = g.Sum(j => j.CostUsd) ?? 0,
            })
            .ToListAsync(token), ct);
        var byStatus = JobStatusNames.All.ToDictionary(s => s, s => 0);
        var byType = new SortedDictionary<string, Dictionary<string, int>>(StringComparer.Ordinal);
        foreach (var g in groups)
        {
            byStatus[g.Status.ToName()] += g.Count;
            if (!byType.TryGetValue(g.Type, out var counts)) byType[g.Type] = counts = JobStatusNames.All.ToDictionary(s => s, s => 0);
            counts[g.Status.ToName()] += g.Count;
        }
        UsageTotals Usage(string? type) => groups.Where(g => type is null || g.Type == type).Aggregate(new UsageTotals(0, 0, 0, 0),
            (sum, g) => new UsageTotals(sum.PromptTokens + g.Prompt, sum.CompletionTokens + g.Completion,
                sum.TotalTokens + g.Prompt + g.Completion, sum.CostUsd + g.Cost));
        var timeline = span is null ? null : await StatsTimelineQuery.ReadAsync(db, driver, dialect, caller.TenantScope(tenantId),
            window!, span.Value, bucket!, step!.Value, time.GetUtcNow().UtcDateTime, ct);
        return TypedResults.Ok(new JobStatsResponse(
            byStatus,
            byType.ToDictionary(t => t.Key, t => new TypeStats(t.Value.Values.Sum(), t.Value, Usage(t.Key))),
            byStatus.Values.Sum(),
            Usage(null),
            timeline));
    }

    /// <summary>The jobs of one tenant, or of every tenant when null (an admin's explicit ask).</summary>
    static IQueryable<Job> Of(JobsDbContext db, string? tenant) =>
        tenant is null ? db.Jobs.AsNoTracking() : db.Jobs.AsNoTracking().Where(j => j.TenantId == tenant);
}
