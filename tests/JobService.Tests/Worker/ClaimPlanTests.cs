using System.Text.Json;
using JobService.Tests.Infrastructure;
using JobService.Transitions;
using Microsoft.EntityFrameworkCore;
using Npgsql;

namespace JobService.Tests.Worker;

/// <summary>
/// The claim's look for tenants with pending work reads a few index pages however many jobs were
/// claimed before it. On PostgreSQL a claimed job leaves its pending entry in ix_jobs_claim, dead,
/// until a vacuum; those collect at the front of each tenant's line, so a look from the front read
/// one more page for every hundred or so jobs claimed (docs/benchmarks.md, twelfth session).
/// </summary>
public sealed class ClaimPlanTests
{
    [Fact]
    public async Task FindingTenantsDoesNotStepOverClaimedJobs()
    {
        await using var database = await TestDatabase.PostgresOrSkipAsync();
        await using (var setup = database.CreateContext())
        {
            await setup.Database.MigrateAsync();
            // 6,000 pending jobs of one tenant, then the first 5,000 in the claim's order taken as a
            // worker takes them, with no vacuum since: their pending entries stay in the index, dead.
            await setup.Database.ExecuteSqlRawAsync("""
                ALTER TABLE jobs SET (autovacuum_enabled = false);
                INSERT INTO jobs (id, tenant_id, type, status, progress, payload, priority, attempt, max_attempts, run_at,
                    cancel_requested, created_at, updated_at, event_seq, rescue_count)
                SELECT gen_random_uuid(), 'default', 'echo', 'pending', 0, '{{}}', 0, 0, 3, now() + i * interval '1 ms',
                    false, now(), now(), 1, 0
                FROM generate_series(1, 6000) AS i;
                ANALYZE jobs;
                UPDATE jobs SET status = 'running', attempt = 1, locked_by = 'w', locked_until = now() + interval '1 minute'
                WHERE id IN (SELECT id FROM jobs WHERE status = 'pending' ORDER BY priority DESC, run_at, id LIMIT 5000);
                """);
        }

        await using var connection = new NpgsqlConnection(database.ConnectionString);
        await connection.OpenAsync();
        await using var explain = new NpgsqlCommand(
            $"EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) WITH RECURSIVE {FairClaim.Tenants} SELECT tenant_id FROM tenants WHERE tenant_id IS NOT NULL",
            connection);
        var plan = JsonDocument.Parse((string)(await explain.ExecuteScalarAsync())!).RootElement[0].GetProperty("Plan");
        var pages = plan.GetProperty("Shared Hit Blocks").GetInt64() + plan.GetProperty("Shared Read Blocks").GetInt64();

        // Two probes of a three-level index, and a heap page or two: a dozen pages. From the front it was 136.
        Assert.True(pages <= 12, $"finding the one tenant read {pages} pages:\n{plan}");
        Assert.Equal("Index Only Scan", FirstScan(plan)?.GetProperty("Node Type").GetString());
    }

    /// <summary>The first scan node under <paramref name="node"/>, depth first.</summary>
    static JsonElement? FirstScan(JsonElement node)
    {
        if (node.GetProperty("Node Type").GetString()!.Contains("Scan") && node.TryGetProperty("Index Name", out _)) return node;
        if (!node.TryGetProperty("Plans", out var children)) return null;
        foreach (var child in children.EnumerateArray())
            if (FirstScan(child) is { } found) return found;
        return null;
    }
}
