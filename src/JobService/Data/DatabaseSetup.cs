using JobService.Hosting;
using System.Data.Common;
using Microsoft.Data.Sqlite;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Diagnostics;
using Microsoft.Extensions.Options;

namespace JobService.Data;

public static class DatabaseSetup
{
    public const string DefaultSqliteConnection = "Data Source=data/jobs.db";

    public static IServiceCollection AddJobsDatabase(this IServiceCollection services, IConfiguration configuration)
    {
        services.AddOptions<DatabaseOptions>().BindConfiguration(DatabaseOptions.Section).RefuseUnknownKeys(DatabaseOptions.Section)
            .Configure(o => o.ConnectionString = configuration.GetConnectionString("Jobs") ?? (o.IsPostgres ? "" : DefaultSqliteConnection))
            .ValidateDataAnnotations().ValidateOnStart();

        // A pooled factory serves event streams and the key and secret stores (one short-lived context per
        // operation, from many threads; a worker's own statements use JobsConnections, no context);
        // requests get a scoped context from the same pool. Both providers' contexts are
        // registered; the options pick which one JobsDbContext means, when first asked for.
        services.AddPooledDbContextFactory<SqliteJobsDbContext>((sp, db) =>
        {
            var options = sp.GetRequiredService<IOptions<DatabaseOptions>>().Value;
            db.UseSqlite(PrepareSqlite(options.ConnectionString, options.SqliteBusyTimeoutMs)).AddInterceptors(new SqlitePragmasOnOpen(options.SqliteBusyTimeoutMs));
        });
        // One data source serves EF Core and the notification connection (PostgreSQL only; built when first asked for).
        services.AddSingleton(sp => DataSource(sp.GetRequiredService<IOptions<DatabaseOptions>>().Value.ConnectionString));
        services.AddPooledDbContextFactory<PostgresJobsDbContext>((sp, db) => db.UseNpgsql(sp.GetRequiredService<Npgsql.NpgsqlDataSource>()));
        services.AddSingleton<IDbContextFactory<JobsDbContext>>(sp => sp.GetRequiredService<IOptions<DatabaseOptions>>().Value.IsPostgres
            ? new JobsDbContextFactory<PostgresJobsDbContext>(sp)
            : new JobsDbContextFactory<SqliteJobsDbContext>(sp));
        services.AddScoped(sp => sp.GetRequiredService<IDbContextFactory<JobsDbContext>>().CreateDbContext());
        services.AddSingleton<JobsConnections>();
        services.AddSingleton<Hosting.DatabaseReady>();
        services.AddSingleton<Hosting.DatabaseStartup>();
        services.AddHostedService(sp => sp.GetRequiredService<Hosting.DatabaseStartup>());
        services.AddHealthChecks().AddCheck<DatabaseHealthCheck>("database", tags: ["ready"]);
        return services;
    }

    /// <summary>
    /// The worker runs the same few statements thousands of times a second (claim, complete,
    /// renew); prepared once, PostgreSQL skips planning them each time. Keepalives notice a
    /// silently dead idle connection (the listener probes its own: PostgresNotifier). No reset
    /// on close: nothing here leaves session state on a pooled connection (locks are per
    /// transaction, no SET, no temp tables; the listener unlistens before it lets go), and the
    /// reset is seven statements PostgreSQL ran before every request's and every worker
    /// transaction's first query. PostgreSQL's JIT is off for the service's sessions: it compiles a
    /// statement again at every execution once its estimated cost passes jit_above_cost, and the
    /// claim's generic plan estimates every pending row: each claim of a 20,000-job backlog spent
    /// 17 ms in LLVM, one of 100,000 about 500 ms, to run a statement that takes 20 (docs/benchmarks.md).
    /// Nothing here is the long analytic query JIT is for. An explicit setting wins (`Options` in
    /// the connection string, which is also how to leave it out behind a pooler that refuses it,
    /// or the PGOPTIONS environment variable).
    /// </summary>
    static Npgsql.NpgsqlDataSource DataSource(string connectionString)
    {
        var builder = new Npgsql.NpgsqlConnectionStringBuilder(connectionString);
        if (!Gives("AutoPrepare")) builder.MaxAutoPrepare = 32;
        if (!Gives("Keepalive")) builder.KeepAlive = 15;
        if (!Gives("ResetOnClose")) builder.NoResetOnClose = true;
        if (!Gives("Options") && Environment.GetEnvironmentVariable("PGOPTIONS") is null) builder.Options = "-c jit=off";
        return new Npgsql.NpgsqlDataSourceBuilder(builder.ConnectionString).Build();

        // Npgsql takes a key with or without its spaces ("Max Auto Prepare", "MaxAutoPrepare").
        bool Gives(string key) => connectionString.Replace(" ", "").Contains(key, StringComparison.OrdinalIgnoreCase);
    }

    /// <summary>
    /// Hands out the provider's own context as the <see cref="JobsDbContext"/> the rest of the code
    /// asks for. The pool (and EF Core's options, ~200 methods compiled) is made at the first
    /// context, not when a service that may need one is built: a worker's services never ask.
    /// </summary>
    sealed class JobsDbContextFactory<T>(IServiceProvider services) : IDbContextFactory<JobsDbContext> where T : JobsDbContext
    {
        IDbContextFactory<T> Inner => field ??= services.GetRequiredService<IDbContextFactory<T>>();

        public JobsDbContext CreateDbContext() => Inner.CreateDbContext();
        public async Task<JobsDbContext> CreateDbContextAsync(CancellationToken ct = default) => await Inner.CreateDbContextAsync(ct);
    }

    /// <summary>Creates the folder of a file database so that a fresh clone runs with nothing prepared.</summary>
    internal static string PrepareSqlite(string connectionString, int busyTimeoutMs)
    {
        var builder = new SqliteConnectionStringBuilder(connectionString);
        // Microsoft.Data.Sqlite retries a busy statement for its command timeout (30 s) after SQLite's own
        // busy_timeout ran out: a writer waited about 30 s whatever Database:SqliteBusyTimeoutMs said.
        // Unless the connection string sets one, it is the setting, rounded up to whole seconds.
        if (!new System.Data.Common.DbConnectionStringBuilder { ConnectionString = connectionString }.Keys.Cast<string>()
                .Any(k => k.Equals("Default Timeout", StringComparison.OrdinalIgnoreCase) || k.Equals("Command Timeout", StringComparison.OrdinalIgnoreCase)))
            builder.DefaultTimeout = Math.Max(1, (int)Math.Ceiling(busyTimeoutMs / 1000.0));
        var path = builder.DataSource;
        if (!string.IsNullOrEmpty(path) && path != ":memory:" && builder.Mode != SqliteOpenMode.Memory)
        {
            var folder = Path.GetDirectoryName(Path.GetFullPath(path));
            if (!string.IsNullOrEmpty(folder)) Directory.CreateDirectory(folder);
        }
        return builder.ToString();
    }

    /// <summary>
    /// WAL lets readers (GET /jobs) run while a worker writes; the busy timeout makes a writer
    /// wait for the lock instead of failing at once. Both are per connection or per file, so
    /// they are set on every open, EF Core's (<see cref="SqlitePragmasOnOpen"/>) and <see cref="JobsConnections"/>'s alike.
    /// </summary>
    internal static string SqlitePragmas(int busyTimeoutMs) => $"PRAGMA journal_mode=WAL; PRAGMA busy_timeout={busyTimeoutMs};";

    sealed class SqlitePragmasOnOpen(int busyTimeoutMs) : DbConnectionInterceptor
    {
        public override void ConnectionOpened(DbConnection connection, ConnectionEndEventData eventData)
        {
            using var command = connection.CreateCommand();
            command.CommandText = SqlitePragmas(busyTimeoutMs);
            command.ExecuteNonQuery();
        }

        public override async Task ConnectionOpenedAsync(DbConnection connection, ConnectionEndEventData eventData,
            CancellationToken cancellationToken = default)
        {
            await using var command = connection.CreateCommand();
            command.CommandText = SqlitePragmas(busyTimeoutMs);
            await command.ExecuteNonQueryAsync(cancellationToken);
        }
    }
}
