using Microsoft.Data.Sqlite;

namespace JobService.Hosting;

/// <summary>
/// EF Core's migration lock on SQLite is a row in <c>__EFMigrationsLock</c>, which a process killed
/// while migrating leaves behind: every later start (and the migrate verb) waited for it for ever.
/// (PostgreSQL's is a session lock, which the server drops with the session.) Here the processes
/// migrating one file first take an OS lock on a file beside it (<c>jobs.db.migrating</c>), which
/// the kernel drops when its holder dies. Whoever holds it knows that a row left in the table is a
/// dead process's, and deletes it.
/// </summary>
static class SqliteMigrationLock
{
    /// <summary>Waits for the OS lock and clears a dead process's row; null for a database in memory. Dispose to let the next one migrate.</summary>
    public static async Task<FileStream?> TakeAsync(string connectionString, ILogger log, CancellationToken ct)
    {
        var builder = new SqliteConnectionStringBuilder(connectionString);
        if (string.IsNullOrEmpty(builder.DataSource) || builder.DataSource == ":memory:" || builder.Mode == SqliteOpenMode.Memory) return null;
        var path = Path.GetFullPath(builder.DataSource) + ".migrating";
        FileStream? held = null;
        for (var tries = 0; held is null; tries++)
        {
            // FileShare.None is an exclusive flock(2) on Linux and a sharing lock on Windows: both end with the process.
            try { held = new FileStream(path, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None); }
            catch (IOException) when (!ct.IsCancellationRequested)
            {
                if (tries == 0) log.LogInformation("Another process is migrating {Database}: waiting for it to finish", builder.DataSource);
                await Task.Delay(TimeSpan.FromMilliseconds(200), ct);
            }
        }
        try
        {
            await using var connection = new SqliteConnection(connectionString);
            await connection.OpenAsync(ct);
            await using var command = connection.CreateCommand();
            command.CommandText = "DELETE FROM \"__EFMigrationsLock\"";
            if (await command.ExecuteNonQueryAsync(ct) > 0)
                log.LogWarning("Removed the migration lock (__EFMigrationsLock) that a process left when it stopped while migrating {Database}", builder.DataSource);
        }
        catch (SqliteException e) when (e.SqliteErrorCode == 1) // no such table: EF Core has not locked this database yet
        {
        }
        catch
        {
            await held.DisposeAsync();
            throw;
        }
        return held;
    }
}
