using JobService.Data;
using Microsoft.EntityFrameworkCore;

namespace JobService.Api;

/// <summary>PostgreSQL: jsonb containment, which the GIN index ix_jobs_payload (jsonb_path_ops) answers.</summary>
public sealed class PostgresReadDialect : ReadDialect
{
    public override IQueryable<Job> JobsWithPayload(JobsDbContext db, string filterJson) =>
        db.Jobs.FromSqlRaw("SELECT * FROM jobs WHERE payload @> @payload_filter",
            new Npgsql.NpgsqlParameter("payload_filter", NpgsqlTypes.NpgsqlDbType.Jsonb) { Value = filterJson });

    public override string Bucket(string column) => $"FLOOR(EXTRACT(EPOCH FROM ({column} - @from)) / @bucket_seconds)::int";

    // NULL (left out of sums and percentiles) for a time stored as ±infinity, which cannot be
    // subtracted: a run_at of DateTime.MinValue, which submissions no longer accept, made the
    // dashboard's timeline fail for as long as the job stayed in its window.
    public override string Millis(string from, string to) =>
        $"CASE WHEN isfinite({from}) AND isfinite({to}) THEN EXTRACT(EPOCH FROM ({to} - {from})) * 1000 END";
}
