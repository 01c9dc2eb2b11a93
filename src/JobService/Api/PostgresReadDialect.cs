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

    public override string Millis(string from, string to) => $"EXTRACT(EPOCH FROM ({to} - {from})) * 1000";
}
