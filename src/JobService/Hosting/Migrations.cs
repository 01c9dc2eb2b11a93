using JobService.Data;
using JobService.Transitions;
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
        var pending = await PendingFromHistoryAsync(db, log, ct)
            ?? (await db.Database.GetPendingMigrationsAsync(ct)).ToList();
        var provider = scope.ServiceProvider.GetRequiredService<IOptions<DatabaseOptions>>().Value.Provider;
        if (pending.Count == 0)
        {
            log.LogInformation("Database ({Provider}) is up to date", provider);
            return;
        }
        log.LogInformation("Applying {Count} migration(s) to the {Provider} database: {Migrations}", pending.Count, provider, pending);
        await db.Database.MigrateAsync(ct);
    }

    /// <summary>
    /// The assembly's migrations missing from the history table, read with one plain query; null when
    /// the table cannot be read (a new database has none), and EF Core's own check decides. Its
    /// GetPendingMigrationsAsync builds a model of the history table first, which costs a start that
    /// finds nothing to do (every start but the first) about a quarter of a second.
    /// </summary>
    internal static async Task<List<string>?> PendingFromHistoryAsync(JobsDbContext db, ILogger log, CancellationToken ct)
    {
        List<string> applied;
        try
        {
            applied = await db.PlainQueryAsync("SELECT \"MigrationId\" FROM \"__EFMigrationsHistory\"", r => r.GetString(0), ct);
        }
        catch (System.Data.Common.DbException e)
        {
            log.LogDebug("The migrations history could not be read ({Error}): EF Core's own check decides", DatabaseErrors.OneLine(e));
            return null;
        }
        return db.Database.GetMigrations().Except(applied).ToList();
    }
}
