using JobService.Data;
using Microsoft.EntityFrameworkCore;

namespace JobService.Worker;

/// <summary>
/// PostgreSQL: candidates are picked per quota with FOR UPDATE SKIP LOCKED (so concurrent
/// claimers pass over each other's rows instead of waiting), merged in queue order, cut to
/// the worker's free slots, and marked in the same statement.
/// </summary>
public sealed class PostgresQueueDriver(IDbContextFactory<JobsDbContext> contexts) : IQueueDriver
{
    public async Task<IReadOnlyList<ClaimedJob>> ClaimAsync(ClaimRequest request, CancellationToken ct)
    {
        if (request.Limit <= 0 || request.Quotas.Count == 0) return [];
        // Locking clauses are not allowed beside UNION, so each quota locks in a CTE of its own.
        var (groups, parameters) = ClaimSql.Build(request, types => types, (types, limit) => $"""
            g{"{i}"} AS (
                SELECT id, priority, run_at FROM jobs
                WHERE status = 'pending' AND run_at <= {"{2}"} AND type = ANY({types})
                {ClaimSql.Order} LIMIT {limit}
                FOR UPDATE SKIP LOCKED)
            """, ",\n");
        // One quota (no per-type limits, the usual case) needs no merge: its CTE is the pick.
        var union = string.Join(" UNION ALL ", request.Quotas.Select((_, i) => $"SELECT * FROM g{i}"));
        var picked = request.Quotas.Count == 1
            ? "picked AS (SELECT id FROM g0)"
            : $"picked AS (SELECT id FROM ({union}) AS candidates {ClaimSql.Order} LIMIT {{3}})";
        var sql = $"""
            WITH {groups},
            {picked}
            UPDATE jobs SET {ClaimSql.MarkRunning}
            FROM picked WHERE jobs.id = picked.id
            {ClaimSql.Returning("jobs.")}
            """;
        await using var db = await contexts.CreateDbContextAsync(ct);
        var rows = await db.Database.SqlQueryRaw<ClaimedRow>(sql, parameters).ToListAsync(ct);
        return rows.Select(r => r.ToJob()).ToList();
    }

    public async Task<IReadOnlySet<Guid>> CompleteAsync(IReadOnlyList<Completion> completions, DateTime now, CancellationToken ct)
    {
        if (completions.Count == 0) return new HashSet<Guid>();
        // Completions of one worker share its id; the fence is per row (id, attempt) plus the worker.
        var worker = completions[0].Lease.WorkerId;
        object[] parameters =
        [
            now, worker,
            completions.Select(c => c.Lease.JobId).ToArray(),
            completions.Select(c => c.Lease.Attempt).ToArray(),
            completions.Select(c => c.Result).ToArray(),
            completions.Select(c => c.Usage?.PromptTokens).ToArray(),
            completions.Select(c => c.Usage?.CompletionTokens).ToArray(),
            completions.Select(c => c.Usage?.CostUsd).ToArray(),
        ];
        const string sql = """
            UPDATE jobs AS j SET status = 'completed', progress = 100, message = 'Completed', result = v.result::jsonb,
                error = NULL, completed_at = {0}, updated_at = {0}, locked_by = NULL, locked_until = NULL,
                prompt_tokens = CASE WHEN v.pt IS NULL THEN j.prompt_tokens ELSE COALESCE(j.prompt_tokens, 0) + v.pt END,
                completion_tokens = CASE WHEN v.ct IS NULL THEN j.completion_tokens ELSE COALESCE(j.completion_tokens, 0) + v.ct END,
                total_tokens = CASE WHEN v.pt IS NULL THEN j.total_tokens ELSE COALESCE(j.total_tokens, 0) + v.pt + v.ct END,
                cost_usd = CASE WHEN v.cost IS NULL THEN j.cost_usd ELSE COALESCE(j.cost_usd, 0) + v.cost END
            FROM unnest({2}::uuid[], {3}::int[], {4}::text[], {5}::int[], {6}::int[], {7}::float8[]) AS v(id, attempt, result, pt, ct, cost)
            WHERE j.id = v.id AND j.attempt = v.attempt AND j.locked_by = {1} AND j.status = 'running'
            RETURNING j.id AS "Value"
            """;
        await using var db = await contexts.CreateDbContextAsync(ct);
        return (await db.Database.SqlQueryRaw<Guid>(sql, parameters).ToListAsync(ct)).ToHashSet();
    }
}
