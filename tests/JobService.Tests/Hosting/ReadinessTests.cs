using JobService.Data;
using JobService.Hosting;
using JobService.Tests.Infrastructure;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace JobService.Tests.Hosting;

/// <summary>
/// Ready is this process's start-up done, not only "the database is migrated": a database another
/// process migrated (a create-key run, another instance) is ready before this one answers the API.
/// </summary>
public sealed class ReadinessTests
{
    [Fact]
    public async Task AMigratedDatabaseIsNotReadyUntilThisProcessHasStarted()
    {
        await using var database = TestDatabase.Sqlite();
        await using var db = database.CreateContext();
        await db.Database.MigrateAsync(); // by "another process"
        var ready = new DatabaseReady();
        var check = new DatabaseHealthCheck(database.CreateConnections(), ready);

        var starting = await check.CheckHealthAsync(new HealthCheckContext());
        ready.Set();
        var started = await check.CheckHealthAsync(new HealthCheckContext());

        Assert.Equal(HealthStatus.Unhealthy, starting.Status);
        Assert.Contains("starting", starting.Description);
        Assert.Equal(HealthStatus.Healthy, started.Status);
    }
}
