using System.Data.Common;
using JobService.Data;
using Microsoft.EntityFrameworkCore;

namespace JobService.Transitions;

/// <summary>
/// One statement over ADO.NET on a context's connection, outside any transition: for what runs on
/// a worker's way to its first claim (paused types, its heartbeat row, expired leases, the migration
/// check), where EF Core compiling a LINQ query or its update pipeline costs the start-up a few
/// hundred milliseconds of JIT. Opened through EF Core, so the provider's per-connection set-up applies.
/// </summary>
public static class PlainSql
{
    /// <summary>The rows <paramref name="read"/> makes of the statement's answer; the driver binds the parameters (none: no driver needed).</summary>
    public static async Task<List<T>> PlainQueryAsync<T>(this JobsDbContext db, string sql, Func<DbDataReader, T> read, CancellationToken ct,
        IJobDriver? driver = null, params (string Name, object? Value)[] parameters)
    {
        await db.Database.OpenConnectionAsync(ct);
        try
        {
            await using var command = Command(db, driver, sql, parameters);
            var rows = new List<T>();
            await using var reader = await command.ExecuteReaderAsync(ct);
            while (await reader.ReadAsync(ct)) rows.Add(read(reader));
            return rows;
        }
        finally { await db.Database.CloseConnectionAsync(); }
    }

    public static async Task PlainExecuteAsync(this JobsDbContext db, string sql, CancellationToken ct,
        IJobDriver? driver = null, params (string Name, object? Value)[] parameters)
    {
        await db.Database.OpenConnectionAsync(ct);
        try
        {
            await using var command = Command(db, driver, sql, parameters);
            await command.ExecuteNonQueryAsync(ct);
        }
        finally { await db.Database.CloseConnectionAsync(); }
    }

    static DbCommand Command(JobsDbContext db, IJobDriver? driver, string sql, (string Name, object? Value)[] parameters)
    {
        var command = db.Database.GetDbConnection().CreateCommand();
        command.CommandText = sql;
        foreach (var (name, value) in parameters)
            (driver ?? throw new ArgumentNullException(nameof(driver), "Parameters are bound by the driver.")).Bind(command, name, value);
        return command;
    }
}
