using JobService.Data;

namespace JobService.Api;

/// <summary>
/// The read queries whose SQL differs between PostgreSQL and SQLite (the payload filter, time
/// buckets and durations for GET /jobs/stats?window=…), one subclass per provider, like the
/// transition driver. The statements built from these pieces are in <see cref="StatsTimeline"/>.
/// </summary>
public abstract class ReadDialect
{
    /// <summary>
    /// The jobs whose payload contains <paramref name="filterJson"/> (an object of scalar leaves,
    /// <see cref="PayloadFilter"/>): every leaf is in the payload at the same path with the same value.
    /// Composable: the caller adds its own WHERE and ORDER BY around it.
    /// </summary>
    public abstract IQueryable<Job> JobsWithPayload(JobsDbContext db, string filterJson);

    /// <summary>The 0-based bucket a time column falls in: whole <c>@bucket_seconds</c> since <c>@from</c>.</summary>
    public abstract string Bucket(string column);

    /// <summary>Milliseconds from one time column to another.</summary>
    public abstract string Millis(string from, string to);
}
