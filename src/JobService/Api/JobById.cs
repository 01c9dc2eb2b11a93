using System.Data.Common;
using JobService.Data;
using JobService.Transitions;
using static JobService.Transitions.JobRow; // its column readers: Text, Time, Utc

namespace JobService.Api;

/// <summary>
/// One job by id, as one plain statement on <see cref="JobsConnections"/>: the read every poll of
/// <c>GET /jobs/{id}</c> makes, and the look-up before a write to one job (tenants never change,
/// so a write that found its job here may change it by id). No context rented and reset, no query
/// pipeline, no buffered reader: without EF Core's compiled query and its pooled context, GET
/// serves 1.2–1.3× the requests under load on PostgreSQL, ~1.9× on SQLite (docs/benchmarks.md).
/// Reads the columns <see cref="JobResponse.From"/> shows, the event sequence the ETag is made of,
/// and the tenant (a stream token names it); not the lease, idempotency, trace or rescue columns,
/// which stay unset on the <see cref="Job"/> it makes.
/// </summary>
public static class JobById
{
    internal const string Columns =
        "id, type, status, progress, message, payload, result, error, priority, attempt, max_attempts, run_at, cancel_requested, " +
        "callback_url, callback_events, created_at, updated_at, started_at, completed_at, prompt_tokens, completion_tokens, total_tokens, " +
        "cost_usd, usage_detail, event_seq, tenant_id";
    internal const string Any = $"SELECT {Columns} FROM jobs WHERE id = @id";
    const string OfTenant = $"{Any} AND tenant_id = @tenant";

    /// <summary>The job if it belongs to <paramref name="tenant"/> (null: any tenant, for admin keys).</summary>
    public static async Task<Job?> FindAsync(JobsConnections connections, IJobDriver driver, Guid id, string? tenant, CancellationToken ct)
    {
        var rows = tenant is null
            ? await connections.QueryAsync(Any, Read, ct, driver, ("id", id))
            : await connections.QueryAsync(OfTenant, Read, ct, driver, ("id", id), ("tenant", tenant));
        return rows.Count == 0 ? null : rows[0];
    }

    /// <summary>Only the job's status and event seq, if it belongs to <paramref name="tenant"/> (null: any tenant): what opening its event stream checks.</summary>
    public static async Task<(JobStatus Status, long EventSeq)?> StatusAsync(JobsConnections connections, IJobDriver driver, Guid id, string? tenant,
        CancellationToken ct)
    {
        const string Sql = "SELECT status, event_seq FROM jobs WHERE id = @id";
        var rows = tenant is null
            ? await connections.QueryAsync(Sql, Place, ct, driver, ("id", id))
            : await connections.QueryAsync(Sql + " AND tenant_id = @tenant", Place, ct, driver, ("id", id), ("tenant", tenant));
        return rows.Count == 0 ? null : rows[0];

        static (JobStatus, long) Place(DbDataReader r) => (ParseStatus(r.GetString(0)), r.GetInt64(1));
    }

    internal static Job Read(DbDataReader r) => new()
    {
        Id = r.GetGuid(0), Type = r.GetString(1), Status = ParseStatus(r.GetString(2)), Progress = r.GetInt32(3),
        Message = Text(r, 4), Payload = r.GetString(5), Result = Text(r, 6), Error = Text(r, 7), Priority = r.GetInt32(8),
        Attempt = r.GetInt32(9), MaxAttempts = r.GetInt32(10), RunAt = Utc(r, 11), CancelRequested = r.GetBoolean(12),
        CallbackUrl = Text(r, 13), CallbackEvents = Text(r, 14), CreatedAt = Utc(r, 15), UpdatedAt = Utc(r, 16),
        StartedAt = Time(r, 17), CompletedAt = Time(r, 18), PromptTokens = Int(r, 19), CompletionTokens = Int(r, 20),
        TotalTokens = Int(r, 21), CostUsd = r.IsDBNull(22) ? null : r.GetDouble(22), UsageDetail = Text(r, 23), EventSeq = r.GetInt64(24),
        TenantId = r.GetString(25),
    };

    static int? Int(DbDataReader r, int i) => r.IsDBNull(i) ? null : r.GetInt32(i);
}
