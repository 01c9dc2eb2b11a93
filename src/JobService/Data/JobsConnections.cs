using System.Data.Common;
using JobService.Transitions;
using Microsoft.Data.Sqlite;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;

namespace JobService.Data;

/// <summary>
/// Plain ADO.NET connections to the jobs database, set up as EF Core's are (the same PostgreSQL
/// data source; SQLite's pragmas on every open): what a worker's own statements run on (claims,
/// outcomes, leases, its heartbeat row, paused types, the start-up checks), so that a process
/// that only runs workers never starts EF Core. Its first context cost a worker ~450 ms of
/// start-up, nearly all of it code compiled on first use (docs/benchmarks.md). EF Core stays
/// where it earns its keep: the API's queries, and the rare write that stores an entity (a
/// webhook delivery) on a transition's connection (<see cref="ContextOn"/>).
/// </summary>
public sealed class JobsConnections(IServiceProvider services, IOptions<DatabaseOptions> options)
{
    readonly DatabaseOptions _options = options.Value;
    string? _sqlite;

    public bool IsPostgres => _options.IsPostgres;

    /// <summary>The one data source EF Core and the notifier use too (PostgreSQL only: built when first asked for).</summary>
    Npgsql.NpgsqlDataSource DataSource => field ??= services.GetRequiredService<Npgsql.NpgsqlDataSource>();

    /// <summary>An open connection; disposing it gives it back to the provider's pool.</summary>
    public async Task<DbConnection> OpenAsync(CancellationToken ct)
    {
        if (IsPostgres) return await DataSource.OpenConnectionAsync(ct);
        ct.ThrowIfCancellationRequested();
        return OpenSqlite(); // Microsoft.Data.Sqlite's opens and commands run synchronously, async or not
    }

    /// <summary>The rows <paramref name="read"/> makes of one statement's answer; the driver binds the parameters (none: no driver needed).</summary>
    public async Task<List<T>> QueryAsync<T>(string sql, Func<DbDataReader, T> read, CancellationToken ct,
        IJobDriver? driver = null, params (string Name, object? Value)[] parameters)
    {
        await using var connection = await OpenAsync(ct);
        await using var command = Command(connection, driver, sql, parameters);
        await using var reader = await command.ExecutePreparedReaderAsync(ct);
        return await RowsAsync(reader, read, ct);
    }

    /// <summary>
    /// The rows of a command's two statements on an open connection, read in order (PostgreSQL:
    /// one round trip). Each statement sees what was committed when it started, so the second's
    /// rows are never older than the first's.
    /// </summary>
    public static async Task<(List<T1> First, List<T2> Second)> QueryAsync<T1, T2>(DbConnection connection, string sql, Func<DbDataReader, T1> readFirst,
        Func<DbDataReader, T2> readSecond, CancellationToken ct, IJobDriver driver, params (string Name, object? Value)[] parameters)
    {
        await using var command = Command(connection, driver, sql, parameters);
        await using var reader = await command.ExecutePreparedReaderAsync(ct);
        var first = await RowsAsync(reader, readFirst, ct);
        if (!await reader.NextResultAsync(ct)) throw new InvalidOperationException("Two statements were expected, the command had one.");
        return (first, await RowsAsync(reader, readSecond, ct));
    }

    static async Task<List<T>> RowsAsync<T>(DbDataReader reader, Func<DbDataReader, T> read, CancellationToken ct)
    {
        var rows = new List<T>();
        while (await reader.ReadAsync(ct)) rows.Add(read(reader));
        return rows;
    }

    /// <summary><see cref="QueryAsync"/>, blocking: for a caller that must answer synchronously (a metrics callback).</summary>
    public List<T> Query<T>(string sql, Func<DbDataReader, T> read, IJobDriver driver, params (string Name, object? Value)[] parameters)
    {
        using var connection = IsPostgres ? DataSource.OpenConnection() : OpenSqlite();
        using var command = Command(connection, driver, sql, parameters);
        var rows = new List<T>();
        using var reader = command.ExecutePreparedReader();
        while (reader.Read()) rows.Add(read(reader));
        return rows;
    }

    /// <summary>PostgreSQL's per-connection set-up is the data source's; SQLite's pragmas are run on every open.</summary>
    DbConnection OpenSqlite()
    {
        var connection = new SqliteConnection(_sqlite ??= DatabaseSetup.PrepareSqlite(_options.ConnectionString, _options.SqliteBusyTimeoutMs));
        try
        {
            connection.Open();
            using var pragmas = connection.CreateCommand();
            pragmas.CommandText = DatabaseSetup.SqlitePragmas(_options.SqliteBusyTimeoutMs);
            pragmas.ExecuteNonQuery();
            return connection;
        }
        catch
        {
            connection.Dispose();
            throw;
        }
    }

    public async Task ExecuteAsync(string sql, CancellationToken ct, IJobDriver? driver = null, params (string Name, object? Value)[] parameters)
    {
        await using var connection = await OpenAsync(ct);
        await using var command = Command(connection, driver, sql, parameters);
        await command.ExecutePreparedAsync(ct);
    }

    /// <summary>
    /// An EF Core context on an open connection (and its transaction, if any), which it does not
    /// own: for a hook that stores an entity inside a transition (<see cref="TransitionTx.Db"/>).
    /// Made from the registered options (ConfigureDbContext and command interceptors apply, as to
    /// every other context), but not rented from the pool: a pooled context keeps a connection set
    /// on it. EF Core never opens this connection, so connection interceptors do not run (SQLite's
    /// pragmas were run by <see cref="OpenAsync"/>), nor does SQLite's provider add its SQL
    /// functions to it (regexp, ef_compare and the like): the hooks' queries use none.
    /// </summary>
    public JobsDbContext ContextOn(DbConnection connection, DbTransaction? transaction)
    {
        JobsDbContext db = IsPostgres
            ? new PostgresJobsDbContext(services.GetRequiredService<DbContextOptions<PostgresJobsDbContext>>())
            : new SqliteJobsDbContext(services.GetRequiredService<DbContextOptions<SqliteJobsDbContext>>());
        db.Database.SetDbConnection(connection, contextOwnsConnection: false);
        if (transaction is not null) db.Database.UseTransaction(transaction);
        return db;
    }

    static DbCommand Command(DbConnection connection, IJobDriver? driver, string sql, (string Name, object? Value)[] parameters)
    {
        var command = connection.CreateCommand();
        command.CommandText = sql;
        foreach (var (name, value) in parameters)
            (driver ?? throw new ArgumentNullException(nameof(driver), "Parameters are bound by the driver.")).Bind(command, name, value);
        return command;
    }
}
