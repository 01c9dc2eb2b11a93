using JobService.Data;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Npgsql;

namespace JobService.Tests.Infrastructure;

/// <summary>
/// A database of its own for one test class: a SQLite file in a temporary folder, or a fresh
/// PostgreSQL database on the test run's server (<see cref="LocalPostgres"/>). Where there is no
/// PostgreSQL at all the PostgreSQL tests are skipped on a developer's machine, and fail under CI
/// (<c>CI=true</c>), where a missing PostgreSQL is a broken pipeline, not a reason to skip.
/// </summary>
public sealed class TestDatabase : IAsyncDisposable
{
    public string Provider { get; }
    public string ConnectionString { get; }
    readonly Func<ValueTask> _drop;
    readonly List<ServiceProvider> _services = []; // CreateConnections' providers (each a data source)

    TestDatabase(string provider, string connectionString, Func<ValueTask> drop)
    {
        Provider = provider;
        ConnectionString = connectionString;
        _drop = drop;
    }

    public static TestDatabase Sqlite()
    {
        var folder = new TempFolder();
        return new TestDatabase("sqlite", $"Data Source={Path.Combine(folder.Path, "jobs.db")}", () =>
        {
            folder.Dispose();
            return ValueTask.CompletedTask;
        });
    }

    /// <summary>The server's base connection string (see <see cref="LocalPostgres"/>), or null with the reason to skip; under CI a failure.</summary>
    public static string? PostgresServer(out string reason)
    {
        (var server, reason) = LocalPostgres.Server;
        if (server is null && IsCi) throw new InvalidOperationException($"CI=true: the PostgreSQL suite must run here. {reason}");
        return server;
    }

    /// <summary>A database of its own on the test PostgreSQL, or the calling test skipped (never under CI) when there is none.</summary>
    public static async Task<TestDatabase> PostgresOrSkipAsync()
    {
        var server = PostgresServer(out var reason);
        if (server is null) Assert.Skip(reason);
        return await PostgresAsync(server);
    }

    public static bool IsCi => string.Equals(Environment.GetEnvironmentVariable("CI"), "true", StringComparison.OrdinalIgnoreCase);

    public static async Task<TestDatabase> PostgresAsync(string server)
    {
        var name = "jobs_test_" + Guid.NewGuid().ToString("N")[..16];
        await using (var admin = new NpgsqlConnection(new NpgsqlConnectionStringBuilder(server) { Database = "postgres" }.ConnectionString))
        {
            await admin.OpenAsync();
            await using var create = new NpgsqlCommand($"CREATE DATABASE {name}", admin);
            await create.ExecuteNonQueryAsync();
        }
        var connection = new NpgsqlConnectionStringBuilder(server) { Database = name }.ConnectionString;
        return new TestDatabase("postgres", connection, async () =>
        {
            NpgsqlConnection.ClearAllPools();
            await using var admin = new NpgsqlConnection(new NpgsqlConnectionStringBuilder(server) { Database = "postgres" }.ConnectionString);
            await admin.OpenAsync();
            await using var drop = new NpgsqlCommand($"DROP DATABASE IF EXISTS {name} WITH (FORCE)", admin);
            await drop.ExecuteNonQueryAsync();
        });
    }

    /// <summary>
    /// Plain connections as the service opens them (<see cref="JobsConnections"/>, its data source
    /// and settings from the service's own registration), outside any host; their pools are
    /// closed with this database.
    /// </summary>
    public JobsConnections CreateConnections()
    {
        var settings = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["Database:Provider"] = Provider, ["ConnectionStrings:Jobs"] = ConnectionString,
        }).Build();
        var services = new ServiceCollection().AddSingleton<IConfiguration>(settings).AddJobsDatabase(settings).BuildServiceProvider();
        lock (_services) _services.Add(services);
        return services.GetRequiredService<JobsConnections>();
    }

    /// <summary>A context of the provider's own type, outside any service: for setting up and reading back.</summary>
    public JobsDbContext CreateContext() => Provider == "postgres"
        ? new PostgresJobsDbContext(new DbContextOptionsBuilder<PostgresJobsDbContext>().UseNpgsql(ConnectionString).Options)
        : new SqliteJobsDbContext(new DbContextOptionsBuilder<SqliteJobsDbContext>().UseSqlite(ConnectionString).Options);

    public async ValueTask DisposeAsync()
    {
        try
        {
            foreach (var services in _services) await services.DisposeAsync();
        }
        finally
        {
            await _drop();
        }
    }
}
