using System.Data.Common;
using JobService.Tests.Infrastructure;
using JobService.Transitions;
using Npgsql;

namespace JobService.Tests.Worker;

/// <summary>A worker's claims run on one kept connection: one server backend plans them, and one that dies is replaced.</summary>
public sealed class KeptConnectionTests
{
    [Fact]
    public async Task ItsUsesRunOnOneBackendAndOneThatDiesIsReplacedAtTheNextUse()
    {
        await using var database = await TestDatabase.PostgresOrSkipAsync();
        var connections = database.CreateConnections();
        // Four idle connections in the pool, as a worker's loops leave it: the pool hands them out in turn.
        var opened = await Task.WhenAll(Enumerable.Range(0, 4).Select(_ => connections.OpenAsync(default)));
        foreach (var c in opened) await c.DisposeAsync();
        await using var kept = new KeptConnection(connections);
        var first = await BackendAsync(kept);
        Assert.Equal(first, await BackendAsync(kept));
        Assert.Equal(first, await BackendAsync(kept));

        await using (var admin = new NpgsqlConnection(database.ConnectionString))
        {
            await admin.OpenAsync();
            await using var kill = new NpgsqlCommand($"SELECT pg_terminate_backend({first})", admin);
            await kill.ExecuteNonQueryAsync();
        }
        await Assert.ThrowsAnyAsync<NpgsqlException>(() => BackendAsync(kept)); // the use that meets it fails, as any connection's would
        var second = await BackendAsync(kept);

        Assert.NotEqual(first, second);
        Assert.Equal(second, await BackendAsync(kept));
    }

    /// <summary>
    /// Regression: a kept connection closed while it waited (the server ended it: a failover, a
    /// restart) was handed out as it was, and the next claim or outcome write threw "Connection is
    /// not open", with a stack trace and a retry.
    /// </summary>
    [Fact]
    public async Task OneClosedWhileItWaitedIsNotHandedOut()
    {
        await using var database = await TestDatabase.PostgresOrSkipAsync();
        await using var kept = new KeptConnection(database.CreateConnections());
        var connection = await kept.TakeAsync(default);
        await kept.GiveBackAsync(connection);
        await connection.CloseAsync(); // as the connection's own end, while it waits

        var next = await kept.TakeAsync(default);

        Assert.NotSame(connection, next);
        Assert.Equal(System.Data.ConnectionState.Open, next.State);
        await PidAsync(next);
        await kept.GiveBackAsync(next);
    }

    [Fact]
    public async Task WhileItIsInUseAnotherUserGetsAConnectionOfItsOwn()
    {
        await using var database = await TestDatabase.PostgresOrSkipAsync();
        await using var kept = new KeptConnection(database.CreateConnections());
        var one = await kept.TakeAsync(default);
        var other = await kept.TakeAsync(default);

        Assert.NotEqual(await PidAsync(one), await PidAsync(other));
        var keptPid = await PidAsync(one);
        await kept.GiveBackAsync(one);
        await kept.GiveBackAsync(other); // the kept one is back already: this one goes to the pool
        Assert.Equal(keptPid, await BackendAsync(kept));
    }

    static async Task<int> BackendAsync(KeptConnection kept)
    {
        var connection = await kept.TakeAsync(default);
        try { return await PidAsync(connection); }
        finally { await kept.GiveBackAsync(connection); }
    }

    static async Task<int> PidAsync(DbConnection connection)
    {
        await using var command = connection.CreateCommand();
        command.CommandText = "SELECT pg_backend_pid()";
        return Convert.ToInt32(await command.ExecuteScalarAsync());
    }
}
