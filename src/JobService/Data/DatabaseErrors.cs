using System.Net.Sockets;
using Microsoft.Data.Sqlite;
using Npgsql;

namespace JobService.Data;

/// <summary>
/// Tells "the database is away" (refused, reset, terminated, timed out, busy, not created yet) from a bug, so
/// that an outage is one warning line per try, and a request that met it gets a 503.
/// </summary>
public static class DatabaseErrors
{
    public static bool IsUnavailable(Exception e)
    {
        for (Exception? x = e; x is not null; x = x.InnerException)
        {
            switch (x)
            {
                case NpgsqlException { IsTransient: true }:
                case PostgresException { SqlState: "57P01" or "57P02" or "57P03" or "53300" or "08006" or "08001" or "08004" }:
                case PostgresException { SqlState: "3D000" }: // the database is not created yet: a deploy creates it after the service starts

                case SocketException or TimeoutException or EndOfStreamException:
                case SqliteException { SqliteErrorCode: 5 or 6 }: // SQLITE_BUSY, SQLITE_LOCKED: the busy timeout ran out
                    return true;
            }
        }
        return false;
    }

    /// <summary>
    /// The server answered and refused the login (SQLSTATE class 28: no such role, a wrong
    /// password, no pg_hba.conf entry): waiting does not change that, so the start-up stops at once.
    /// </summary>
    public static bool IsLoginRefused(Exception e)
    {
        for (Exception? x = e; x is not null; x = x.InnerException)
            if (x is PostgresException p && p.SqlState.StartsWith("28", StringComparison.Ordinal)) return true;
        return false;
    }

    /// <summary>
    /// A SQLite file this process cannot use, whatever it waits: not a database (26), corrupt (11),
    /// read-only to it (8), or not openable, its folder missing or not its own (14, or the folder
    /// not creatable). The start-up stops at once, as for a refused login.
    /// </summary>
    public static bool IsUnusableFile(Exception e)
    {
        for (Exception? x = e; x is not null; x = x.InnerException)
            if (x is SqliteException { SqliteErrorCode: 8 or 11 or 14 or 26 } or UnauthorizedAccessException) return true;
        return false;
    }

    /// <summary>PostgreSQL aborted this transaction to break a deadlock: nothing of it was written, and running it again is safe.</summary>
    public static bool IsDeadlock(Exception e)
    {
        for (Exception? x = e; x is not null; x = x.InnerException)
            if (x is PostgresException { SqlState: PostgresErrorCodes.DeadlockDetected }) return true;
        return false;
    }

    /// <summary>The innermost message, on one line: what went wrong, not the 23 frames of how.</summary>
    public static string OneLine(Exception e)
    {
        while (e.InnerException is not null && e is NpgsqlException or InvalidOperationException or AggregateException) e = e.InnerException;
        return e.Message.ReplaceLineEndings(" ");
    }
}
