using JobService.Data;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;

namespace JobService.Hosting;

public static class Migrations
{
    /// <summary>Applies pending migrations. EF Core takes a database lock, so several instances may start at once.</summary>
    public static async Task MigrateJobsDatabaseAsync(this IServiceProvider services, CancellationToken ct = default)
    {
        await using var scope = services.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<JobsDbContext>();
        var log = scope.ServiceProvider.GetRequiredService<ILoggerFactory>().CreateLogger("JobService.Migrations");
        var pending = (await db.Database.GetPendingMigrationsAsync(ct)).ToList();
        var provider = scope.ServiceProvider.GetRequiredService<IOptions<DatabaseOptions>>().Value.Provider;
        if (pending.Count == 0)
        {
            log.LogInformation("Database ({Provider}) is up to date", provider);
            return;
        }
        log.LogInformation("Applying {Count} migration(s) to the {Provider} database: {Migrations}", pending.Count, provider, pending);
        await db.Database.MigrateAsync(ct);
    }
}
