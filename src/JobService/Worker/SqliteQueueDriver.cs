using System.Text.Json;
using JobService.Data;
using Microsoft.Data.Sqlite;
using Microsoft.EntityFrameworkCore;

namespace JobService.Worker;

/// <summary>
/// SQLite: one UPDATE over a subquery. No row locks are needed: an UPDATE takes the database's
/// single write lock before it reads, so two claims run one after the other and the second
/// sees the first's rows as running. The type list travels as a JSON array (json_each), since
/// SQLite has no array parameters.
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

    /// <summary>
    /// One prepared UPDATE per row inside one transaction: a single commit (one fsync) for the
    /// batch. A single UPDATE … FROM json_each would join every running job against the whole
    /// list (SQLite plans it from the jobs side), which grows with the square of the batch.
    /// </summary>
    public async Task<IReadOnlySet<Guid>> CompleteAsync(IReadOnlyList<Completion> completions, DateTime now, CancellationToken ct)
    {
        var written = new HashSet<Guid>();
        if (completions.Count == 0) return written;
        await using var db = await contexts.CreateDbContextAsync(ct);
        var connection = (SqliteConnection)db.Database.GetDbConnection();
        await connection.OpenAsync(ct);
        await using var tx = (SqliteTransaction)await connection.BeginTransactionAsync(ct);
        await using var update = connection.CreateCommand();
        update.Transaction = tx;
        update.CommandText = """
            UPDATE jobs SET status = 'completed', progress = 100, message = 'Completed', result = $result,
                error = NULL, completed_at = $now, updated_at = $now, locked_by = NULL, locked_until = NULL,
                prompt_tokens = CASE WHEN $pt IS NULL THEN prompt_tokens ELSE COALESCE(prompt_tokens, 0) + $pt END,
                completion_tokens = CASE WHEN $ct IS NULL THEN completion_tokens ELSE COALESCE(completion_tokens, 0) + $ct END,
                total_tokens = CASE WHEN $pt IS NULL THEN total_tokens ELSE COALESCE(total_tokens, 0) + $pt + $ct END,
                cost_usd = CASE WHEN $cost IS NULL THEN cost_usd ELSE COALESCE(cost_usd, 0) + $cost END
            WHERE id = $id AND attempt = $attempt AND locked_by = $worker AND status = 'running'
            """;
        var p = new Dictionary<string, SqliteParameter>();
        foreach (var name in new[] { "$result", "$now", "$pt", "$ct", "$cost", "$id", "$attempt", "$worker" })
            p[name] = update.Parameters.Add(new SqliteParameter { ParameterName = name });
        // The same text formats EF Core writes: a Guid as upper-case text, a DateTime as 'yyyy-MM-dd HH:mm:ss.FFFFFFF'.
        p["$now"].Value = now.ToString("yyyy-MM-dd HH:mm:ss.FFFFFFF", System.Globalization.CultureInfo.InvariantCulture);
        update.Prepare();
        foreach (var c in completions)
        {
            p["$id"].Value = c.Lease.JobId.ToString().ToUpperInvariant();
            p["$attempt"].Value = c.Lease.Attempt;
            p["$worker"].Value = c.Lease.WorkerId;
            p["$result"].Value = (object?)c.Result ?? DBNull.Value;
            p["$pt"].Value = (object?)c.Usage?.PromptTokens ?? DBNull.Value;
            p["$ct"].Value = (object?)c.Usage?.CompletionTokens ?? DBNull.Value;
            p["$cost"].Value = (object?)c.Usage?.CostUsd ?? DBNull.Value;
            if (await update.ExecuteNonQueryAsync(ct) == 1) written.Add(c.Lease.JobId);
        }
        await tx.CommitAsync(ct);
        return written;
    }
}
