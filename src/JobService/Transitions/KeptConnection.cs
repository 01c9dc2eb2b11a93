using System.Data;
using System.Data.Common;
using System.Diagnostics;
using JobService.Data;

namespace JobService.Transitions;

/// <summary>
/// One connection kept open between a caller's statements of one kind (a worker's claims), so
/// that they all run on one server backend. The pool hands its idle connections out in turn, and
/// each backend parses and plans a statement for itself: an idle worker's claims, spread over
/// four backends, paid that (2–17 ms a time) four times over after its start, and again after
/// each automatic ANALYZE of the jobs table (docs/benchmarks.md, twenty-sixth session). One user
/// at a time: another caller meanwhile takes a pooled connection. A connection that is not open
/// after its use (broken) or when taken is dropped, and one kept for <see cref="MaxAge"/> goes back to the pool,
/// so that the pool's own rules (its lifetime, a failover's new primary) reach it too.
/// </summary>
public sealed class KeptConnection(JobsConnections connections) : IAsyncDisposable
{
    public static readonly TimeSpan MaxAge = TimeSpan.FromMinutes(1);

    readonly Lock _gate = new();
    DbConnection? _idle, _kept; // the kept one while it waits; the kept one, waiting or in use
    long _keptSince;
    bool _disposed;

    public async Task<DbConnection> TakeAsync(CancellationToken ct)
    {
        DbConnection? aged = null;
        lock (_gate)
        {
            if (_idle is { } idle)
            {
                _idle = null;
                // One the server ended while it waited (a failover, a restart, pg_terminate_backend)
                // can be closed by now: its next statement threw "Connection is not open", a stack
                // trace in the log and a retry, where a pooled connection is checked when taken.
                if (Stopwatch.GetElapsedTime(_keptSince) < MaxAge && idle.State == ConnectionState.Open) return idle;
                aged = idle;
            }
        }
        if (aged is not null) await ReleaseQuietlyAsync(aged);
        return await connections.OpenAsync(ct);
    }

    public async ValueTask GiveBackAsync(DbConnection connection)
    {
        lock (_gate)
        {
            if (!_disposed && _idle is null && connection.State == ConnectionState.Open)
            {
                if (!ReferenceEquals(connection, _kept)) (_kept, _keptSince) = (connection, Stopwatch.GetTimestamp());
                _idle = connection;
                return;
            }
        }
        await ReleaseQuietlyAsync(connection);
    }

    /// <summary>Back to the pool; a use still under way gives its connection back to the pool too.</summary>
    public async ValueTask DisposeAsync()
    {
        DbConnection? idle;
        lock (_gate)
        {
            _disposed = true;
            (idle, _idle, _kept) = (_idle, null, null);
        }
        if (idle is not null) await ReleaseQuietlyAsync(idle);
    }

    /// <summary>Closing a pooled connection has nothing to act on when it fails: it is dropped either way.</summary>
    static async ValueTask ReleaseQuietlyAsync(DbConnection connection)
    {
        try { await connection.DisposeAsync(); }
        catch (Exception) { }
    }
}
