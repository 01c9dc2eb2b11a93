using System.Net.Http.Json;
using System.Text.Json;
using JobService.Data;
using JobService.Handlers;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Mvc.Testing;
using Microsoft.AspNetCore.TestHost;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;

namespace JobService.Tests.Infrastructure;

/// <summary>
/// The real service in-process (real pipeline, real database) with the test handlers
/// registered, on a database of its own. Subclasses pick the provider.
/// </summary>
public abstract class TestApp : WebApplicationFactory<Program>, IAsyncLifetime
{
    TestDatabase? _database;
    string? _skipReason;

    /// <summary>Extra settings a test class needs (for example, a smaller body limit).</summary>
    public Dictionary<string, string?> Settings { get; } = new();

    protected abstract Task<TestDatabase?> CreateDatabaseAsync(Action<string> skip);

    public TestDatabase Database => _database ?? throw new InvalidOperationException("The database is not created yet.");

    public async ValueTask InitializeAsync() => _database = await CreateDatabaseAsync(reason => _skipReason = reason);

    public bool IsAvailable => _skipReason is null;

    /// <summary>Empties the tables, so that each test starts from a clean database.</summary>
    public Task ResetAsync() => WithDbAsync(async db => await db.JobEvents.ExecuteDeleteAsync() + await db.Jobs.ExecuteDeleteAsync());

    /// <summary>Skips the calling test when this provider is not available here (never under CI).</summary>
    public TestApp EnsureAvailable()
    {
        if (_skipReason is not null) Assert.Skip(_skipReason);
        return this;
    }

    protected override void ConfigureWebHost(IWebHostBuilder builder)
    {
        builder.UseSetting("Database:Provider", Database.Provider);
        builder.UseSetting("ConnectionStrings:Jobs", Database.ConnectionString);
        builder.UseSetting("Serilog:MinimumLevel", "Warning");
        builder.UseSetting("Service:Role", "api"); // API suites see jobs as they left the API; worker suites ask for "all"
        foreach (var (key, value) in Settings) builder.UseSetting(key, value);
        builder.ConfigureTestServices(TestHandlers.Register);
    }


    /// <summary>Runs a query or change on the service's own database, in a scope of its own.</summary>
    public async Task<T> WithDbAsync<T>(Func<JobsDbContext, Task<T>> work)
    {
        await using var scope = Services.CreateAsyncScope();
        return await work(scope.ServiceProvider.GetRequiredService<JobsDbContext>());
    }

    public Task<int> RowCountsAsync() => WithDbAsync(async db => await db.Jobs.CountAsync() + await db.JobEvents.CountAsync());

    public async Task<JsonElement> CreateJobAsync(object body, HttpClient? client = null)
    {
        var response = await (client ?? CreateClient()).PostAsJsonAsync("/jobs", body);
        Assert.Equal(System.Net.HttpStatusCode.Created, response.StatusCode);
        return await response.Content.ReadFromJsonAsync<JsonElement>();
    }

    public override async ValueTask DisposeAsync()
    {
        await base.DisposeAsync();
        if (_database is not null) await _database.DisposeAsync();
        GC.SuppressFinalize(this);
    }
}

public sealed class SqliteApp : TestApp
{
    protected override Task<TestDatabase?> CreateDatabaseAsync(Action<string> skip) => Task.FromResult<TestDatabase?>(TestDatabase.Sqlite());
}

public sealed class PostgresApp : TestApp
{
    protected override Task<TestDatabase?> CreateDatabaseAsync(Action<string> skip) => PostgresOrSkipAsync(skip);

    /// <summary>A database of its own on the test PostgreSQL, or a skip (never under CI) when there is none.</summary>
    public static async Task<TestDatabase?> PostgresOrSkipAsync(Action<string> skip)
    {
        var server = TestDatabase.PostgresServer(out var reason);
        if (server is null)
        {
            skip(reason);
            return TestDatabase.Sqlite(); // never used: every test skips first
        }
        return await TestDatabase.PostgresAsync(server);
    }
}
