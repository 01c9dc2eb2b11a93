using System.Data;
using System.Data.Common;
using JobService.Data;

namespace JobService.Transitions;

/// <summary>
/// One connection kept open between a caller's statements of one kind (a worker's claims), so
/// that they all run on one server backend. The pool hands its idle connections out in turn, and
/// each backend parses and plans a statement for itself: an idle worker's claims, spread over
/// four backends, paid that (2–17 ms a time) four times over after its start, and again after
/// each automatic ANALYZE of the jobs table (docs/benchmarks.md, twenty-sixth session). One user
/// at a time: another caller meanwhile takes a pooled connection. A connection that is not open
/// after its use (broken) is dropped, and the next use opens another.
/// </summary>
public sealed class KeptConnection(JobsConnections connections) : IAsyncDisposable
{
    DbConnection? _idle;
    volatile bool _disposed;

    public async Task<DbConnection> TakeAsync(CancellationToken ct) =>
        Interlocked.Exchange(ref _idle, null) ?? await connections.OpenAsync(ct);

    public async ValueTask GiveBackAsync(DbConnection connection)
    {
        if (!_disposed && connection.State == ConnectionState.Open && Interlocked.CompareExchange(ref _idle, connection, null) is null) return;
        await connection.DisposeAsync();
    }

    /// <summary>Back to the pool; a use still under way gives its connection back to the pool too.</summary>
    public ValueTask DisposeAsync()
    {
        _disposed = true;
        return Interlocked.Exchange(ref _idle, null)?.DisposeAsync() ?? ValueTask.CompletedTask;
    }
}
