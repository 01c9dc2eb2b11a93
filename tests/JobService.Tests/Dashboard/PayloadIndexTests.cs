using System.Data.Common;
using System.Text.Json.Nodes;
using JobService.Api;
using JobService.Tests.Infrastructure;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Diagnostics;
using Npgsql;

namespace JobService.Tests.Dashboard;

/// <summary>
/// On PostgreSQL the payload filter is answered by the GIN index ix_jobs_payload: the statements
/// GET /jobs runs for it (the count and the page, as JobFilter builds them) are EXPLAINed as they
/// execute, over a table big enough for the planner to prefer the index.
/// </summary>
public sealed class PayloadIndexTests
{
    /// <summary>Runs EXPLAIN of each query EF Core sends, with its parameters, before sending it.</summary>
    sealed class Explain : DbCommandInterceptor
    {
        public List<string> Plans { get; } = [];

        public override async ValueTask<InterceptionResult<DbDataReader>> ReaderExecutingAsync(DbCommand command, CommandEventData data,
            InterceptionResult<DbDataReader> result, CancellationToken ct = default)
        {
            await using var explain = new NpgsqlCommand("EXPLAIN " + command.CommandText, (NpgsqlConnection)command.Connection!);
            foreach (NpgsqlParameter p in command.Parameters) explain.Parameters.Add(p.Clone());
            var plan = new List<string>();
            await using (var reader = await explain.ExecuteReaderAsync(ct))
                while (await reader.ReadAsync(ct)) plan.Add(reader.GetString(0));
            Plans.Add(string.Join("\n", plan));
            return result;
        }
    }

    [Fact]
    public async Task ThePayloadFilterUsesTheGinIndex()
    {
        var server = TestDatabase.PostgresServer(out var reason);
        if (server is null) Assert.Skip(reason);
        await using var database = await TestDatabase.PostgresAsync(server);
        await using (var setup = database.CreateContext())
        {
            await setup.Database.MigrateAsync();
            // 20,000 jobs, 20 of them fantasy: selective enough that an index beats reading the table.
            await setup.Database.ExecuteSqlRawAsync("""
                INSERT INTO jobs (id, tenant_id, type, status, progress, payload, priority, attempt, max_attempts, run_at,
                    cancel_requested, created_at, updated_at, event_seq, rescue_count)
                SELECT gen_random_uuid(), 'default', 'generate_characters', 'completed', 100,
                    jsonb_build_object('theme', CASE WHEN i % 1000 = 0 THEN 'fantasy' ELSE 'theme' || (i % 997) END, 'count', i % 10),
                    0, 1, 3, now(), false, now() - i * interval '1 second', now(), 1, 0
                FROM generate_series(1, 20000) AS i;
                ANALYZE jobs;
                """);
        }
        var explain = new Explain();
        await using var db = new JobService.Data.PostgresJobsDbContext(new DbContextOptionsBuilder<JobService.Data.PostgresJobsDbContext>()
            .UseNpgsql(database.ConnectionString).AddInterceptors(explain).Options);
        var errors = new Dictionary<string, string[]>();
        var filter = JobFilter.Parse(null, null, null, null, null, new JsonObject { ["theme"] = "fantasy" }, errors);
        Assert.Empty(errors);

        var query = filter.Apply(db, "default", new PostgresReadDialect());
        var count = await query.CountAsync();
        var page = await query.OrderByDescending(j => j.CreatedAt).ThenByDescending(j => j.Id).Take(50).ToListAsync();

        Assert.Equal(20, count);
        Assert.Equal(20, page.Count);
        Assert.Equal(2, explain.Plans.Count);
        Assert.All(explain.Plans, plan => Assert.Contains("ix_jobs_payload", plan));
        Assert.All(explain.Plans, plan => Assert.DoesNotContain("Seq Scan on jobs", plan));
    }
}
