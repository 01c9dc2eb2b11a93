using System.ComponentModel;
using System.Data.Common;
using System.Globalization;
using System.Text.Json.Serialization;
using System.Text.RegularExpressions;
using JobService.Data;
using JobService.Transitions;
using Microsoft.EntityFrameworkCore;

namespace JobService.Api;

/// <summary>GET /jobs/stats?window=1h&amp;bucket=1m: the last <c>window</c> in buckets of <c>bucket</c>, the last one being the current.</summary>
public sealed record StatsTimeline(
    string Window, string Bucket, DateTime From, DateTime To,
    [property: Description("Oldest first; a job counts in the bucket of the time it was created, started (queue wait) or finished (the rest).")]
    IReadOnlyList<TimelineBucket> Buckets,
    [property: Description("Each type over the whole window, with its completions per bucket (a sparkline) and its oldest due pending job.")]
    IReadOnlyDictionary<string, TypeTimeline> ByType);

public sealed record TimelineBucket(DateTime Start, int Created, int Completed, int Failed, int Cancelled,
    [property: Description("From due (run_at) to claimed, of the jobs claimed in the bucket that are running or finished (one waiting for a retry counts when claimed again), in ms.")] Percentiles QueueWaitMs,
    [property: Description("From started to finished, of the jobs completed or failed in the bucket, in ms.")] Percentiles RunMs,
    long TotalTokens, [property: JsonConverter(typeof(UsdJson))] double CostUsd);

/// <summary>Nearest-rank percentiles (the value at rank ⌈p·n⌉), null for an empty bucket.</summary>
public sealed record Percentiles(double? P50, double? P95);

public sealed record TypeTimeline(int Created, int Completed, int Failed, int Cancelled, IReadOnlyList<int> CompletedPerBucket,
    double? MeanRunMs,
    [property: Description("Failed among completed and failed, 0 to 1; null when none finished.")] double? ErrorRate,
    long TotalTokens, [property: JsonConverter(typeof(UsdJson))] double CostUsd,
    [property: Description("How long the oldest due pending job (run_at passed) has waited, in seconds; null when none waits.")] double? OldestPendingSeconds);

/// <summary>
/// The time series behind the dashboard's overview, aggregated in SQL: counts and sums grouped
/// by (type, bucket[, status]), and percentiles by ranking each bucket's samples with window
/// functions (the same statement on both providers: SQLite has no percentile function). Each
/// statement reads through indexes: a time column's range, or (the queue waits) the finished
/// jobs' and the running ones'. The provider's pieces (time buckets, durations) are the
/// <see cref="ReadDialect"/>'s.
/// </summary>
public static partial class StatsTimelineQuery
{
    public const int MaxBuckets = 1_440;
    public static readonly TimeSpan MinBucket = TimeSpan.FromSeconds(10), MaxWindow = TimeSpan.FromDays(31);

    /// <summary>"90s", "15m", "1h", "7d" → a duration; null when it is not one.</summary>
    public static TimeSpan? ParseDuration(string text)
    {
        var m = Duration().Match(text);
        if (!m.Success) return null;
        var n = int.Parse(m.Groups[1].Value, CultureInfo.InvariantCulture);
        return m.Groups[2].Value switch { "s" => TimeSpan.FromSeconds(n), "m" => TimeSpan.FromMinutes(n), "h" => TimeSpan.FromHours(n), _ => TimeSpan.FromDays(n) };
    }

    /// <summary>What is wrong with the pair, under the parameter to change, or null.</summary>
    public static (string Field, string Message)? Check(TimeSpan window, TimeSpan bucket) =>
        bucket < MinBucket ? ("bucket", $"bucket must be at least {MinBucket.TotalSeconds:0} s.")
        : window > MaxWindow ? ("window", $"window must be at most {MaxWindow.TotalDays:0} days.")
        : window < bucket ? ("window", "window must be at least one bucket.")
        : Math.Ceiling(window / bucket) > MaxBuckets ? ("bucket", $"window / bucket must be at most {MaxBuckets} buckets.")
        : null;

    public static async Task<StatsTimeline> ReadAsync(JobsDbContext db, IJobDriver driver, ReadDialect dialect, string? tenant,
        string windowText, TimeSpan window, string bucketText, TimeSpan bucket, DateTime now, CancellationToken ct)
    {
        // Buckets are whole multiples of the bucket since the epoch, so that refreshing the page does not shift them.
        var count = (int)Math.Ceiling(window / bucket);
        var current = new DateTime(now.Ticks - now.Ticks % bucket.Ticks, DateTimeKind.Utc);
        var from = current - bucket * (count - 1);
        var scope = tenant is null ? "" : " AND tenant_id = @tenant";
        var parameters = new Dictionary<string, object?> { ["from"] = from, ["bucket_seconds"] = bucket.TotalSeconds, ["tenant"] = tenant };

        var created = await RowsAsync(db, driver, $"""
            SELECT type, {dialect.Bucket("created_at")} AS b, COUNT(*) FROM jobs
            WHERE created_at >= @from{scope}
            GROUP BY type, b
            """, parameters, r => (Type: r.GetString(0), Bucket: Int(r, 1), Count: Int(r, 2)), ct);
        var finished = await RowsAsync(db, driver, $"""
            SELECT type, {dialect.Bucket("completed_at")} AS b, status, COUNT(*), SUM(total_tokens), SUM(cost_usd),
                SUM({dialect.Millis("started_at", "completed_at")}), COUNT(started_at)
            FROM jobs
            WHERE completed_at >= @from AND status IN ('completed', 'failed', 'cancelled'){scope}
            GROUP BY type, b, status
            """, parameters, r => (Type: r.GetString(0), Bucket: Int(r, 1), Status: r.GetString(2), Count: Int(r, 3), Tokens: (long)Number(r, 4),
                Cost: Number(r, 5), RunMs: Number(r, 6), Runs: Int(r, 7)), ct);
        // The jobs started since @from, through indexes a claim already writes (started_at has none
        // of its own: DashboardTables): the finished ones, which finished after they started, and the
        // running ones (ix_jobs_lease). One waiting for a retry counts when claimed again, and one
        // cancelled while it waited not at all: its run_at is the retry's, later than its last
        // claim, so the wait of that claim is no longer known.
        var waits = await PercentilesAsync(db, driver, dialect.Bucket("started_at"), dialect.Millis("run_at", "started_at"), [
            $"completed_at >= @from AND started_at >= @from AND (status <> 'cancelled' OR run_at <= started_at){scope}",
            $"status = 'running' AND completed_at IS NULL AND started_at >= @from{scope}"], parameters, ct);
        var runs = await PercentilesAsync(db, driver, dialect.Bucket("completed_at"), dialect.Millis("started_at", "completed_at"),
            [$"completed_at >= @from AND status IN ('completed', 'failed') AND started_at IS NOT NULL{scope}"], parameters, ct);
        var owned = tenant is null ? db.Jobs.AsNoTracking() : db.Jobs.AsNoTracking().Where(j => j.TenantId == tenant);
        var oldest = await driver.ReadAsync(token => owned.Where(j => j.Status == JobStatus.Pending && j.RunAt <= now)
            .GroupBy(j => j.Type).Select(g => new { Type = g.Key, RunAt = g.Min(j => j.RunAt) }).ToListAsync(token), ct);

        bool InRange(int b) => b >= 0 && b < count;
        var buckets = Enumerable.Range(0, count).Select(i =>
        {
            var done = finished.Where(f => f.Bucket == i).ToList();
            int Of(string status) => done.Where(f => f.Status == status).Sum(f => f.Count);
            return new TimelineBucket(from + bucket * i, created.Where(c => c.Bucket == i).Sum(c => c.Count), Of("completed"), Of("failed"), Of("cancelled"),
                waits.GetValueOrDefault(i, new Percentiles(null, null)), runs.GetValueOrDefault(i, new Percentiles(null, null)),
                done.Sum(f => f.Tokens), done.Sum(f => f.Cost));
        }).ToList();
        var types = created.Select(c => c.Type).Concat(finished.Select(f => f.Type)).Concat(oldest.Select(o => o.Type)).Distinct().Order(StringComparer.Ordinal);
        var byType = types.ToDictionary(t => t, t =>
        {
            var done = finished.Where(f => f.Type == t && InRange(f.Bucket)).ToList();
            int Of(string status) => done.Where(f => f.Status == status).Sum(f => f.Count);
            var (completed, failed, ran) = (Of("completed"), Of("failed"), done.Sum(f => f.Runs));
            var waiting = oldest.FirstOrDefault(o => o.Type == t)?.RunAt;
            return new TypeTimeline(created.Where(c => c.Type == t && InRange(c.Bucket)).Sum(c => c.Count), completed, failed, Of("cancelled"),
                Enumerable.Range(0, count).Select(i => done.Where(f => f.Bucket == i && f.Status == "completed").Sum(f => f.Count)).ToList(),
                ran == 0 ? null : Math.Round(done.Sum(f => f.RunMs) / ran, 1), completed + failed == 0 ? null : (double)failed / (completed + failed),
                done.Sum(f => f.Tokens), done.Sum(f => f.Cost), waiting is null ? null : (now - waiting.Value).TotalSeconds);
        });
        return new StatsTimeline(windowText, bucketText, from, from + bucket * count, buckets, byType);
    }

    /// <summary>
    /// p50 and p95 of a duration per bucket: each bucket's samples ranked, the first at or past the
    /// rank taken. The samples are the jobs matching any of <paramref name="wheres"/>, which must not overlap.
    /// </summary>
    static async Task<Dictionary<int, Percentiles>> PercentilesAsync(JobsDbContext db, IJobDriver driver, string bucket, string millis, string[] wheres,
        Dictionary<string, object?> parameters, CancellationToken ct)
    {
        var samples = string.Join("\n        UNION ALL ", wheres.Select(where => $"SELECT {bucket} AS b, {millis} AS ms FROM jobs WHERE {where}"));
        var rows = await RowsAsync(db, driver, $"""
            WITH samples AS (
                {samples}),
            ranked AS (
                SELECT b, ms, ROW_NUMBER() OVER (PARTITION BY b ORDER BY ms) AS n, COUNT(*) OVER (PARTITION BY b) AS total
                FROM samples WHERE ms IS NOT NULL)
            SELECT b, MIN(CASE WHEN n * 100 >= total * 50 THEN ms END), MIN(CASE WHEN n * 100 >= total * 95 THEN ms END)
            FROM ranked
            GROUP BY b
            """, parameters, r => (Bucket: Int(r, 0), P50: Number(r, 1), P95: Number(r, 2)), ct);
        return rows.ToDictionary(r => r.Bucket, r => new Percentiles(Math.Round(r.P50, 1), Math.Round(r.P95, 1)));
    }

    static async Task<List<T>> RowsAsync<T>(JobsDbContext db, IJobDriver driver, string sql, Dictionary<string, object?> parameters,
        Func<DbDataReader, T> read, CancellationToken ct) =>
        await driver.ReadAsync(async token =>
        {
            var connection = db.Database.GetDbConnection();
            await db.Database.OpenConnectionAsync(token);
            try
            {
                await using var command = connection.CreateCommand();
                command.CommandText = sql;
                foreach (var (name, value) in parameters.Where(p => sql.Contains("@" + p.Key))) driver.Bind(command, name, value);
                var rows = new List<T>();
                await using var reader = await command.ExecutePreparedReaderAsync(token);
                while (await reader.ReadAsync(token)) rows.Add(read(reader));
                return rows;
            }
            finally { await db.Database.CloseConnectionAsync(); }
        }, ct);

    static int Int(DbDataReader r, int i) => Convert.ToInt32(r.GetValue(i), CultureInfo.InvariantCulture);
    static double Number(DbDataReader r, int i) => r.IsDBNull(i) ? 0 : Convert.ToDouble(r.GetValue(i), CultureInfo.InvariantCulture);

    [GeneratedRegex(@"^([1-9][0-9]{0,5})(s|m|h|d)\z")]
    private static partial Regex Duration();
}
