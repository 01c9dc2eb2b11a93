using JobService.Tests.Infrastructure;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.TestHost;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Time.Testing;

namespace JobService.Tests.Dashboard;

/// <summary>The API on a fake clock, so that a test places jobs in time buckets exactly; bulk batches of two.</summary>
public abstract class ClockedApp : TestApp
{
    /// <summary>Mid-minute, so that "now" is far from a bucket's edge.</summary>
    public FakeTimeProvider Time { get; } = new(new DateTimeOffset(2026, 12, 1, 10, 30, 30, TimeSpan.Zero));

    protected override void ConfigureWebHost(IWebHostBuilder builder)
    {
        base.ConfigureWebHost(builder);
        builder.UseSetting("Dashboard:BulkBatchSize", "2"); // every bulk action here spans several batches
        builder.ConfigureTestServices(services => services.AddSingleton<TimeProvider>(Time));
    }
}

public sealed class SqliteClockedApp : ClockedApp
{
    protected override Task<TestDatabase?> CreateDatabaseAsync(Action<string> skip) => Task.FromResult<TestDatabase?>(TestDatabase.Sqlite());
}

public sealed class PostgresClockedApp : ClockedApp
{
    protected override Task<TestDatabase?> CreateDatabaseAsync(Action<string> skip) => PostgresApp.PostgresOrSkipAsync(skip);
}
