using System.Text.Json;
using JobService.Data;
using Microsoft.EntityFrameworkCore;

namespace JobService.Worker;

/// <summary>
/// SQLite: one UPDATE over a subquery. No row locks are needed: an UPDATE takes the database's
/// single write lock before it reads, so two claims run one after the other and the second
/// sees the first's rows as running. Lists travel as JSON arrays (json_each), since SQLite
/// has no array parameters.
/// </summary>
public sealed class SqliteQueueDriver(IDbContextFactory<JobsDbContext> contexts) : IQueueDriver
{
    public async Task<IReadOnlyList<ClaimedJob>> ClaimAsync(ClaimRequest request, CancellationToken ct)
    {
        if (request.Limit <= 0 || request.Quotas.Count == 0) return [];
        var (groups, parameters) = ClaimSql.Build(request, types => JsonSerializer.Serialize(types), (types, limit) => $"""
            SELECT * FROM (
                SELECT id, priority, run_at FROM jobs
                WHERE status = 'pending' AND run_at <= {"{2}"} AND type IN (SELECT value FROM json_each({types}))
                {ClaimSql.Order} LIMIT {limit})
            """, "\nUNION ALL\n");
        var sql = $"""
            UPDATE jobs SET {ClaimSql.MarkRunning}
            WHERE id IN (SELECT id FROM ({groups}) {ClaimSql.Order} LIMIT {"{3}"})
            {ClaimSql.Returning("")}
            """;
        await using var db = await contexts.CreateDbContextAsync(ct);
        var rows = await db.Database.SqlQueryRaw<ClaimedRow>(sql, parameters).ToListAsync(ct);
        return rows.Select(r => r.ToJob()).ToList();
    }

    public async Task<IReadOnlySet<Guid>> CompleteAsync(IReadOnlyList<Completion> completions, DateTime now, CancellationToken ct)
    {
        if (completions.Count == 0) return new HashSet<Guid>();
        var worker = completions[0].Lease.WorkerId;
        // EF stores a Guid in SQLite as upper-case text: match that format in the JSON list.
        var rows = JsonSerializer.Serialize(completions.Select(c => new
        {
            id = c.Lease.JobId.ToString().ToUpperInvariant(),
            attempt = c.Lease.Attempt,
            result = c.Result,
            pt = c.Usage?.PromptTokens,
            ct = c.Usage?.CompletionTokens,
            cost = c.Usage?.CostUsd,
        }));
        const string sql = """
            UPDATE jobs SET status = 'completed', progress = 100, message = 'Completed', result = v.result,
                error = NULL, completed_at = {0}, updated_at = {0}, locked_by = NULL, locked_until = NULL,
                prompt_tokens = CASE WHEN v.pt IS NULL THEN jobs.prompt_tokens ELSE COALESCE(jobs.prompt_tokens, 0) + v.pt END,
                completion_tokens = CASE WHEN v.ct IS NULL THEN jobs.completion_tokens ELSE COALESCE(jobs.completion_tokens, 0) + v.ct END,
                total_tokens = CASE WHEN v.pt IS NULL THEN jobs.total_tokens ELSE COALESCE(jobs.total_tokens, 0) + v.pt + v.ct END,
                cost_usd = CASE WHEN v.cost IS NULL THEN jobs.cost_usd ELSE COALESCE(jobs.cost_usd, 0) + v.cost END
            FROM (SELECT json_extract(value, '$.id') AS id, json_extract(value, '$.attempt') AS attempt,
                         json_extract(value, '$.result') AS result, json_extract(value, '$.pt') AS pt,
                         json_extract(value, '$.ct') AS ct, json_extract(value, '$.cost') AS cost
                  FROM json_each({2})) AS v
            WHERE jobs.id = v.id AND jobs.attempt = v.attempt AND jobs.locked_by = {1} AND jobs.status = 'running'
            RETURNING id AS "Value"
            """;
        await using var db = await contexts.CreateDbContextAsync(ct);
        return (await db.Database.SqlQueryRaw<Guid>(sql, now, worker, rows).ToListAsync(ct)).ToHashSet();
    }
}
