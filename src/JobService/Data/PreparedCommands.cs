using System.Data.Common;
using System.Runtime.CompilerServices;

namespace JobService.Data;

/// <summary>
/// How the service runs the statements it writes itself (the transitions' and the plain reads'):
/// on PostgreSQL each is prepared in a round trip of its own the first time a connection runs it;
/// later runs on that connection find it prepared and go at once. Not left to Npgsql's
/// auto-prepare, which prepares a statement inside the run that reaches its threshold and, in
/// Npgsql 10.0.3, counts it prepared once the parse is answered, before the bind is: when
/// PostgreSQL refuses that bind (a value it cannot take, such as a NUL in text; a cancel or a lock
/// timeout while the plan is made), the connection keeps a prepared statement with no description
/// of its rows, and the statement's next run there fails ("Received unexpected backend message
/// DataRow", npgsql#6391, open). Prepared apart, the description comes with the parse. EF Core's
/// own queries still auto-prepare (the values the API lets reach them are checked first).
/// A connection string with <c>Max Auto Prepare=0</c> (a pooler that cannot keep prepared
/// statements) turns this off too, as does <c>Multiplexing</c> (which cannot prepare). SQLite's
/// commands run as they are.
/// </summary>
public static class PreparedCommands
{
    public static async Task<DbDataReader> ExecutePreparedReaderAsync(this DbCommand command, CancellationToken ct)
    {
        await PrepareAsync(command, ct);
        return await command.ExecuteReaderAsync(ct);
    }

    public static async Task<int> ExecutePreparedAsync(this DbCommand command, CancellationToken ct)
    {
        await PrepareAsync(command, ct);
        return await command.ExecuteNonQueryAsync(ct);
    }

    public static async Task<object?> ExecutePreparedScalarAsync(this DbCommand command, CancellationToken ct)
    {
        await PrepareAsync(command, ct);
        return await command.ExecuteScalarAsync(ct);
    }

    /// <summary>Blocking, for a caller that must answer synchronously (a metrics callback).</summary>
    public static DbDataReader ExecutePreparedReader(this DbCommand command)
    {
        if (Prepares(command)) command.Prepare();
        return command.ExecuteReader();
    }

    static Task PrepareAsync(DbCommand command, CancellationToken ct) => Prepares(command) ? command.PrepareAsync(ct) : Task.CompletedTask;

    /// <summary>Per connection string (one instance per data source, so the look-up is by reference): whether it prepares statements.</summary>
    static readonly ConditionalWeakTable<string, StrongBox<bool>> PreparingStrings = new();

    static bool Prepares(DbCommand command) => command.Connection is Npgsql.NpgsqlConnection { ConnectionString: var s } &&
        PreparingStrings.GetValue(s, key => new(new Npgsql.NpgsqlConnectionStringBuilder(key) is var b && b.MaxAutoPrepare > 0 && !b.Multiplexing))
            .Value;
}
