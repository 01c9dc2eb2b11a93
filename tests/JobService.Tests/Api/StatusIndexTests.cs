using JobService.Api;
using JobService.Data;
using JobService.Tests.Infrastructure;
using Microsoft.EntityFrameworkCore;

namespace JobService.Tests.Api;

/// <summary>
/// Lists by status read the partial index that holds the status. SQLite uses a partial index only
/// for a query that names its filter's literal: with the statuses as parameters, or as one IN list
/// (the event stream's opening list of pending and running jobs), a list of running jobs, its count
/// and that opening list read the whole table once ix_jobs_claim held pending jobs only.
/// </summary>
public sealed class StatusIndexTests
{
    [Theory]
    [InlineData(JobStatus.Running, "ix_jobs_lease")]
    [InlineData(JobStatus.Pending, "ix_jobs_claim")]
    public async Task AListOfOneStatusReadsThePartialIndexThatHoldsIt(JobStatus status, string index)
    {
        await using var database = TestDatabase.Sqlite();
        await using var db = await JobsAsync(database);
        var jobs = new JobFilter([status], [], null, null, null, null).Apply(db, tenant: null, new SqliteReadDialect());

        Assert.Contains(index, await PlanAsync(db, jobs.OrderByDescending(j => j.CreatedAt).ThenByDescending(j => j.Id).Take(50)));
        Assert.Contains(index, await PlanAsync(db, jobs.Select(j => j.Id))); // what its count reads
    }

    [Fact]
    public async Task PendingAndRunningJobsTogetherReadBothPartialIndexes()
    {
        await using var database = TestDatabase.Sqlite();
        await using var db = await JobsAsync(database);

        var plan = await PlanAsync(db, db.Jobs.InStatuses([JobStatus.Pending, JobStatus.Running]).OrderByDescending(j => j.CreatedAt).Take(500));

        Assert.Contains("ix_jobs_claim", plan);
        Assert.Contains("ix_jobs_lease", plan);
        Assert.DoesNotMatch(new System.Text.RegularExpressions.Regex(@"^SCAN \w+$", System.Text.RegularExpressions.RegexOptions.Multiline), plan); // no whole-table scan
    }

    /// <summary>A table as a service holds it: mostly finished jobs, a few pending and running, analysed.</summary>
    static async Task<JobsDbContext> JobsAsync(TestDatabase database)
    {
        var db = database.CreateContext();
        await db.Database.MigrateAsync();
        var now = DateTime.UtcNow;
        var statuses = Enumerable.Repeat(JobStatus.Completed, 2_000).Concat(Enumerable.Repeat(JobStatus.Pending, 5)).Concat(Enumerable.Repeat(JobStatus.Running, 5));
        db.Jobs.AddRange(statuses.Select((status, i) => new Job
        {
            Id = Guid.CreateVersion7(), Type = "echo", Status = status, Payload = "{}", MaxAttempts = 1, CreatedAt = now.AddSeconds(i), UpdatedAt = now, RunAt = now,
            LockedUntil = status == JobStatus.Running ? now.AddMinutes(1) : null, CompletedAt = status == JobStatus.Completed ? now : null,
        }));
        await db.SaveChangesAsync();
        await db.Database.ExecuteSqlRawAsync("ANALYZE");
        return db;
    }

    /// <summary>SQLite's EXPLAIN QUERY PLAN of the query EF Core sends (parameters unbound: the plan does not depend on them).</summary>
    static async Task<string> PlanAsync<T>(JobsDbContext db, IQueryable<T> query)
    {
        var sql = string.Join('\n', query.ToQueryString().Split('\n').Where(line => !line.StartsWith(".param", StringComparison.Ordinal)));
        var connection = db.Database.GetDbConnection();
        await connection.OpenAsync();
        await using var command = connection.CreateCommand();
        command.CommandText = "EXPLAIN QUERY PLAN " + sql;
        var details = new List<string>();
        await using var reader = await command.ExecuteReaderAsync();
        while (await reader.ReadAsync()) details.Add(reader.GetString(3));
        return string.Join("\n", details);
    }
}
