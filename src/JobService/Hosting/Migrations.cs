using System.Reflection;
using JobService.Data;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Infrastructure;
using Microsoft.EntityFrameworkCore.Migrations;
using Microsoft.Extensions.Options;

namespace JobService.Hosting;

public static class Migrations
{
    /// <summary>
    /// Applies pending migrations. EF Core takes a database lock, so several instances may start at
    /// once (on SQLite behind an OS lock too: <see cref="SqliteMigrationLock"/>).
    /// </summary>
    public static async Task MigrateJobsDatabaseAsync(this IServiceProvider services, CancellationToken ct = default)
    {
        var log = services.GetRequiredService<ILoggerFactory>().CreateLogger("JobService.Migrations");
        var options = services.GetRequiredService<IOptions<DatabaseOptions>>().Value;
        var provider = options.Provider;
        await using var scope = services.CreateAsyncScope();
        var pending = await PendingFromHistoryAsync(services.GetRequiredService<JobsConnections>(), log, ct)
            ?? (await scope.ServiceProvider.GetRequiredService<JobsDbContext>().Database.GetPendingMigrationsAsync(ct)).ToList();
        if (pending.Count == 0)
        {
            log.LogInformation("Database ({Provider}) is up to date", provider);
            return;
        }
        var db = scope.ServiceProvider.GetRequiredService<JobsDbContext>();
        await using var sqliteLock = options.IsPostgres ? null : await SqliteMigrationLock.TakeAsync(db.Database.GetConnectionString()!, log, ct);
        log.LogInformation("Applying {Count} migration(s) to the {Provider} database: {Migrations}", pending.Count, provider, pending);
        await db.Database.MigrateAsync(ct);
    }

    /// <summary>
    /// With Database:MigrateOnStartup=false a deployment's own step migrates: until it has, this
    /// instance waits, not ready (its API answers 503, its workers claim nothing), rather than
    /// serve a schema that is not there (every request was a 500, every loop a stack trace). It
    /// looks every 2 s and says so once a minute; a migrate run meanwhile is found without a restart.
    /// </summary>
    public static async Task WaitForMigrationsAsync(this IServiceProvider services, CancellationToken ct)
    {
        var log = services.GetRequiredService<ILoggerFactory>().CreateLogger("JobService.Migrations");
        var connections = services.GetRequiredService<JobsConnections>();
        for (var look = 0; ; look++)
        {
            var pending = await PendingFromHistoryAsync(connections, look == 0 ? log : Microsoft.Extensions.Logging.Abstractions.NullLogger.Instance, ct);
            if (pending is []) return;
            if (look % 30 == 0)
                log.LogWarning("The database is not migrated ({Pending}) and Database:MigrateOnStartup is false: waiting for the deployment's " +
                               "migrate step (JobService migrate); not ready meanwhile", pending is null ? "no migrations history" : $"{pending.Count} pending");
            await Task.Delay(TimeSpan.FromSeconds(2), ct);
        }
    }

    /// <summary>
    /// This assembly's migrations missing from the history table, read with one plain query and
    /// without EF Core (a start that finds nothing to do, every start but the first, then never
    /// builds a context: <see cref="JobsConnections"/>); null when the table cannot be read (a new
    /// database has none), and EF Core's own check decides.
    /// </summary>
    internal static async Task<List<string>?> PendingFromHistoryAsync(JobsConnections connections, ILogger log, CancellationToken ct)
    {
        List<string> applied;
        try
        {
            applied = await connections.QueryAsync("SELECT \"MigrationId\" FROM \"__EFMigrationsHistory\"", r => r.GetString(0), ct);
        }
        catch (System.Data.Common.DbException e)
        {
            log.LogDebug("The migrations history could not be read ({Error}): EF Core's own check decides", DatabaseErrors.OneLine(e));
            return null;
        }
        var compiled = Compiled(connections.IsPostgres ? typeof(PostgresJobsDbContext) : typeof(SqliteJobsDbContext)).ToList();
        if (applied.Except(compiled).ToList() is [_, ..] unknown)
            log.LogWarning("The database has {Count} migration(s) this binary does not know, {Migrations}: a newer version migrated it, and this " +
                           "one may not read or write its schema as that version does. Run the newer version, or restore the database from before it.",
                unknown.Count, unknown);
        return compiled.Except(applied).ToList();
    }

    /// <summary>
    /// The migrations compiled for a provider's context, in order: found as EF Core's migrations
    /// assembly finds them (a <see cref="Migration"/> with <see cref="DbContextAttribute"/> naming
    /// the context and a <see cref="MigrationAttribute"/> id), without starting EF Core. Read once:
    /// the readiness probe asks every few seconds. A test holds it to EF Core's own list.
    /// </summary>
    internal static IEnumerable<string> Compiled(Type context) => CompiledByContext.Value[context];

    static readonly Lazy<ILookup<Type, string>> CompiledByContext = new(() => (
        from type in typeof(Migrations).Assembly.GetTypes()
        where type.IsSubclassOf(typeof(Migration)) && !type.IsAbstract
        let context = type.GetCustomAttribute<DbContextAttribute>()?.ContextType
        let id = type.GetCustomAttribute<MigrationAttribute>()?.Id
        where context is not null && id is not null
        orderby id
        select (Context: context, Id: id)).ToLookup(m => m.Context, m => m.Id));
}
