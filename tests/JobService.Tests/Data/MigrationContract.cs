using System.Diagnostics;
using JobService.Data;
using JobService.Tests.Infrastructure;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Infrastructure;
using Microsoft.EntityFrameworkCore.Migrations;
using Microsoft.Extensions.DependencyInjection;

namespace JobService.Tests.Data;

/// <summary>
/// The hand-written migrations and snapshot must match the model on each provider, and
/// applying them must be repeatable. Each test takes a fresh, empty database.
/// </summary>
public abstract class MigrationContract
{
    protected abstract Task<TestDatabase?> CreateDatabaseAsync();

    async Task<(TestDatabase Db, ServiceProvider Services)> EmptyDatabaseAsync()
    {
        var database = await CreateDatabaseAsync();
        if (database is null) Assert.Skip(TestDatabaseSkip);
        var services = new ServiceCollection().AddDbContext<JobsDbContext>(o =>
        {
            if (database.Provider == "postgres") o.UseNpgsql(database.ConnectionString);
            else o.UseSqlite(database.ConnectionString);
        }).BuildServiceProvider();
        return (database, services);
    }

    protected virtual string TestDatabaseSkip => "";

    [Fact]
    public async Task TheModelHasNoChangesMissingFromTheMigrations()
    {
        var (database, services) = await EmptyDatabaseAsync();
        await using var _ = database;
        await using var __ = services;
        var db = services.GetRequiredService<JobsDbContext>();

        Assert.False(db.Database.HasPendingModelChanges(),
            "The model differs from JobsDbContextModelSnapshot: write a migration and update the snapshot.");
    }

    [Fact]
    public async Task MigratingAnEmptyDatabaseTwiceIsANoOpTheSecondTime()
    {
        var (database, services) = await EmptyDatabaseAsync();
        await using var _ = database;
        await using var __ = services;
        var db = services.GetRequiredService<JobsDbContext>();

        Assert.NotEmpty(await db.Database.GetPendingMigrationsAsync());
        await db.Database.MigrateAsync();
        var applied = (await db.Database.GetAppliedMigrationsAsync()).ToList();
        var id = Guid.CreateVersion7();
        db.Jobs.Add(new Job { Id = id, Type = "echo", Payload = "{}", CreatedAt = DateTime.UtcNow, UpdatedAt = DateTime.UtcNow, RunAt = DateTime.UtcNow });
        await db.SaveChangesAsync();

        await db.Database.MigrateAsync();

        Assert.Empty(await db.Database.GetPendingMigrationsAsync());
        Assert.Equal(applied, await db.Database.GetAppliedMigrationsAsync());
        Assert.Empty(db.GetService<IMigrator>().GenerateScript(applied[^1]).Trim()); // nothing left to apply
        Assert.True(await db.Jobs.AnyAsync(j => j.Id == id), "a second migrate must not touch existing rows");
    }

    [Fact]
    public async Task TheMigrateVerbMigratesAndExitsWithoutServing()
    {
        var (database, services) = await EmptyDatabaseAsync();
        await using var _ = database;
        await using var __ = services;

        var start = new ProcessStartInfo("dotnet", [typeof(Program).Assembly.Location, "migrate"])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            Environment =
            {
                ["Database__Provider"] = database.Provider,
                ["ConnectionStrings__Jobs"] = database.ConnectionString,
            },
        };
        using var process = Process.Start(start)!;
        var output = process.StandardOutput.ReadToEndAsync(TestContext.Current.CancellationToken);
        var cts = CancellationTokenSource.CreateLinkedTokenSource(TestContext.Current.CancellationToken);
        cts.CancelAfter(TimeSpan.FromSeconds(60));
        await process.WaitForExitAsync(cts.Token);

        Assert.True(process.ExitCode == 0, await output + await process.StandardError.ReadToEndAsync(TestContext.Current.CancellationToken));
        Assert.Contains("Applying 1 migration(s)", await output);
        var db = services.GetRequiredService<JobsDbContext>();
        Assert.Empty(await db.Database.GetPendingMigrationsAsync(TestContext.Current.CancellationToken));
    }
}

public sealed class SqliteMigrationTests : MigrationContract
{
    protected override Task<TestDatabase?> CreateDatabaseAsync() => Task.FromResult<TestDatabase?>(TestDatabase.Sqlite());
}

public sealed class PostgresMigrationTests : MigrationContract
{
    string _reason = "";
    protected override string TestDatabaseSkip => _reason;

    protected override async Task<TestDatabase?> CreateDatabaseAsync()
    {
        var server = TestDatabase.PostgresServer(out _reason);
        return server is null ? null : await TestDatabase.PostgresAsync(server);
    }
}
