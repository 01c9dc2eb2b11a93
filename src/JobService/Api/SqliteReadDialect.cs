using JobService.Data;
using Microsoft.EntityFrameworkCore;

namespace JobService.Api;

/// <summary>
/// SQLite: payloads are JSON text. json_tree walks the filter's leaves; a job matches when none of
/// them is missing from its payload (json_extract at the leaf's path), differs, or has another
/// JSON type (the string "3" is not the number 3; integer and real are both numbers, as in jsonb).
/// IS, not =: a missing path is NULL, and NULL = x is neither true nor false.
/// </summary>
public sealed class SqliteReadDialect : ReadDialect
{
    const string Contains = """
        SELECT * FROM jobs WHERE NOT EXISTS (
            SELECT 1 FROM json_tree(@payload_filter) AS leaf
            WHERE leaf.type NOT IN ('object', 'array')
              AND NOT (json_extract(jobs.payload, leaf.fullkey) IS leaf.atom
                   AND (json_type(jobs.payload, leaf.fullkey) IS leaf.type
                        OR (json_type(jobs.payload, leaf.fullkey) IN ('integer', 'real') AND leaf.type IN ('integer', 'real')))))
        """;

    public override IQueryable<Job> JobsWithPayload(JobsDbContext db, string filterJson) =>
        db.Jobs.FromSqlRaw(Contains, new Microsoft.Data.Sqlite.SqliteParameter("payload_filter", filterJson));

    // Times are text ('2026-12-02 10:11:12.1234567'); julianday reads them as a day number, a double, whose
    // seconds land a hair off (10:30:00 - 10:26:00 = 239.99999… s): rounded to whole milliseconds first, a
    // time on a bucket's edge starts that bucket.
    public override string Bucket(string column) =>
        $"CAST(ROUND((julianday({column}) - julianday(@from)) * 86400000) / (@bucket_seconds * 1000) AS INTEGER)";

    public override string Millis(string from, string to) => $"(julianday({to}) - julianday({from})) * 86400000";
}
