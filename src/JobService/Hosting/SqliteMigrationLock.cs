using System.Globalization;
using Microsoft.Data.Sqlite;

namespace JobService.Hosting;

/// <summary>
/// EF Core's migration lock on SQLite is a row in <c>__EFMigrationsLock</c>, which a process killed
/// while migrating leaves behind: every later start (and the migrate verb) waited for it for ever.
/// (PostgreSQL's is a session lock, which the server drops with the session.) Here the processes
/// migrating one file first take an OS lock on a file beside it (<c>jobs.db.migrating</c>), which
/// the kernel drops when its holder dies. Holding it, a row in the table is either a dead process's
/// or that of a migrator without this lock (an older JobService, EF Core's own tools): a row older
/// than <see cref="Stale"/>, longer than any migration of this schema takes, is deleted; a younger
/// one is waited for.
/// </summary>
static class SqliteMigrationLock
{
    public static readonly TimeSpan Stale = TimeSpan.FromMinutes(5);

    /// <summary>Waits for the OS lock and clears a dead process's row; null for a database in memory. Dispose to let the next one migrate.</summary>
    public static async Task<FileStream?> TakeAsync(string connectionString, ILogger log, CancellationToken ct)
    {
        var builder = new SqliteConnectionStringBuilder(connectionString);
        if (string.IsNullOrEmpty(builder.DataSource) || builder.DataSource == ":memory:" || builder.Mode == SqliteOpenMode.Memory) return null;
        var held = await LockBesideAsync(Path.GetFullPath(builder.DataSource) + ".migrating", builder.DataSource, log, ct);
        try
        {
            await using var connection = new SqliteConnection(connectionString);
            await connection.OpenAsync(ct);
            for (var said = false; ; said = true)
            {
                var taken = await TakenAtAsync(connection, ct);
                if (taken is null) return held;
                if (DateTimeOffset.UtcNow - taken.Value >= Stale)
                {
                    await using var delete = connection.CreateCommand();
                    delete.CommandText = "PRAGMA busy_timeout = 5000; DELETE FROM \"__EFMigrationsLock\"";
                    await delete.ExecuteNonQueryAsync(ct);
                    log.LogWarning("Removed the migration lock (__EFMigrationsLock) taken at {Taken:O}: the process that took it stopped while it migrated {Database}",
                        taken.Value, builder.DataSource);
                    return held;
                }
                if (!said)
                    log.LogInformation("The migration lock of {Database} was taken at {Taken:O}, by a process without this one's OS lock (an older JobService, " +
                                       "EF Core's tools): waiting for it, or until it is {Stale} old", builder.DataSource, taken.Value, Stale);
                await Task.Delay(TimeSpan.FromSeconds(1), ct);
            }
        }
        catch
        {
            await held.DisposeAsync();
            throw;
        }
    }

    /// <summary>When the row was taken, or null when there is none (or no table yet: EF Core has not locked this database).</summary>
    static async Task<DateTimeOffset?> TakenAtAsync(SqliteConnection connection, CancellationToken ct)
    {
        await using var read = connection.CreateCommand();
        read.CommandText = "SELECT \"Timestamp\" FROM \"__EFMigrationsLock\" LIMIT 1";
        try
        {
            var value = await read.ExecuteScalarAsync(ct);
            if (value is null or DBNull) return null;
            return value is string text && DateTimeOffset.TryParse(text, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out var taken)
                ? taken : DateTimeOffset.MinValue; // a row whose time cannot be read is treated as old
        }
        catch (SqliteException e) when (e.SqliteErrorCode == 1) // no such table
        {
            return null;
        }
    }

    /// <summary>Another process holds the lock: Windows' sharing or lock violation; on Unix flock's EWOULDBLOCK (11 on Linux, 35 on macOS). Any other I/O error is one.</summary>
    static bool HeldByAnother(IOException e) => OperatingSystem.IsWindows() ? (e.HResult & 0xFFFF) is 32 or 33 : e.HResult is 11 or 35;

    /// <summary>The OS lock: FileShare.None is an exclusive flock(2) on Linux and a sharing lock on Windows, both ended with the process.</summary>
    static async Task<FileStream> LockBesideAsync(string path, string database, ILogger log, CancellationToken ct)
    {
        for (var tries = 0; ; tries++)
        {
            try
            {
                return new FileStream(path, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None);
            }
            catch (IOException e) when (HeldByAnother(e) && !ct.IsCancellationRequested)
            {
                if (tries == 0) log.LogInformation("Another process is migrating {Database}: waiting for it to finish", database);
                await Task.Delay(TimeSpan.FromMilliseconds(200), ct);
            }
        }
    }
}
