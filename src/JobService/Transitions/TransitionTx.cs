using System.Data.Common;
using JobService.Data;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Storage;

namespace JobService.Transitions;

/// <summary>
/// One transition's database transaction, the clock reading the whole transition uses, and what
/// to do once it committed. The API's transitions run on the request's EF Core context
/// (<see cref="BeginAsync(JobsDbContext, IJobDriver, DateTime, CancellationToken)"/>); the
/// worker's and maintenance's on a plain connection of their own
/// (<see cref="BeginAsync(JobsConnections, IJobDriver, DateTime, bool, CancellationToken)"/>), so
/// that a worker never starts EF Core (<see cref="JobsConnections"/>). A transition that is one
/// round trip with nothing to write beside it may instead run that command on its own, with no
/// transaction: it commits as it returns, with no COMMIT round trip.
/// </summary>
public sealed class TransitionTx : IAsyncDisposable
{
    readonly IDbContextTransaction? _efTransaction; // on a request's context: EF Core's view of the transaction
    readonly JobsConnections? _connections;          // on a connection of its own, which this closes
    readonly KeptConnection? _kept;                  // or gives back to be kept open
    readonly List<Action> _afterCommit = [];
    readonly IDisposable? _writing;
    JobsDbContext? _db;

    TransitionTx(DbConnection connection, DbTransaction? transaction, JobsDbContext? db, IDbContextTransaction? efTransaction,
        JobsConnections? connections, IJobDriver driver, DateTime now, IDisposable? writing, KeptConnection? kept = null)
    {
        (Connection, Transaction, _db, _efTransaction, _connections, _kept) = (connection, transaction, db, efTransaction, connections, kept);
        (Driver, Now, _writing) = (driver, now, writing);
    }

    public IJobDriver Driver { get; }
    public DateTime Now { get; }
    public DbConnection Connection { get; }
    public DbTransaction? Transaction { get; } // null: each statement commits by itself

    /// <summary>
    /// An EF Core context in this transaction, for a hook that stores an entity: the request's own,
    /// or on a connection of the transition's own, one made when first asked for (rarely: a
    /// webhook delivery's row).
    /// </summary>
    public JobsDbContext Db => _db ??= _connections!.ContextOn(Connection, Transaction);

    /// <summary>On a request's context (the API's transitions), in a transaction.</summary>
    public static Task<TransitionTx> BeginAsync(JobsDbContext db, IJobDriver driver, DateTime now, CancellationToken ct) =>
        StartAsync(driver, ct, async writing =>
        {
            var transaction = await db.Database.BeginTransactionAsync(ct);
            return new TransitionTx(db.Database.GetDbConnection(), transaction.GetDbTransaction(), db, transaction, null, driver, now, writing);
        });

    /// <summary>
    /// On a connection of its own; with <paramref name="selfCommitting"/>, no transaction: each
    /// command commits by itself, so the caller runs exactly one that writes (a statement, or a
    /// batch, which the server runs as one implicit transaction), and its hooks write nothing (a
    /// second write would commit apart from the first). <see cref="CommitAsync"/> then only runs
    /// the after-commit work. With <paramref name="kept"/>, on that connection when it is free.
    /// </summary>
    public static Task<TransitionTx> BeginAsync(JobsConnections connections, IJobDriver driver, DateTime now, bool selfCommitting, CancellationToken ct,
        KeptConnection? kept = null) =>
        StartAsync(driver, ct, async writing =>
        {
            var connection = kept is null ? await connections.OpenAsync(ct) : await kept.TakeAsync(ct);
            try
            {
                var transaction = selfCommitting ? null : await connection.BeginTransactionAsync(ct);
                return new TransitionTx(connection, transaction, null, null, connections, driver, now, writing, kept);
            }
            catch
            {
                await Release(connection, kept);
                throw;
            }
        });

    static ValueTask Release(DbConnection connection, KeptConnection? kept) => kept?.GiveBackAsync(connection) ?? connection.DisposeAsync();

    /// <summary>
    /// On a request's context, with no transaction (as <see cref="BeginAsync(JobsConnections, IJobDriver, DateTime, bool, CancellationToken)"/>
    /// with selfCommitting): a POST /jobs whose insert commits by itself.
    /// </summary>
    public static Task<TransitionTx> BeginSelfCommittingAsync(JobsDbContext db, IJobDriver driver, DateTime now, CancellationToken ct) =>
        StartAsync(driver, ct, async writing =>
        {
            await db.Database.OpenConnectionAsync(ct);
            return new TransitionTx(db.Database.GetDbConnection(), null, db, null, null, driver, now, writing);
        });

    /// <summary>Takes the driver's write turn (SQLite's one writer) first, and gives it back if the start fails.</summary>
    static async Task<TransitionTx> StartAsync(IJobDriver driver, CancellationToken ct, Func<IDisposable?, Task<TransitionTx>> start)
    {
        var writing = await driver.BeginWriteAsync(ct);
        try
        {
            return await start(writing);
        }
        catch
        {
            writing?.Dispose();
            throw;
        }
    }

    public DbCommand Command(string sql)
    {
        var command = Connection.CreateCommand();
        command.CommandText = sql;
        command.Transaction = Transaction;
        return command;
    }

    /// <summary>Runs a command and reads its rows with <paramref name="read"/>, past the results of the first <paramref name="skipResults"/> statements.</summary>
    public async Task<List<T>> RowsAsync<T>(DbCommand command, Func<DbDataReader, T> read, CancellationToken ct, int skipResults = 0)
    {
        var rows = new List<T>();
        await using var reader = await command.ExecutePreparedReaderAsync(ct);
        for (var i = 0; i < skipResults; i++) await reader.NextResultAsync(ct); // statements before the one whose rows these are
        while (await reader.ReadAsync(ct)) rows.Add(read(reader));
        return rows;
    }

    /// <summary>Runs once the transaction committed (a notification, a signal): never for a rolled-back change.</summary>
    public void AfterCommit(Action action) => _afterCommit.Add(action);

    public async Task CommitAsync(CancellationToken ct)
    {
        if (_efTransaction is not null) await _efTransaction.CommitAsync(ct);
        else if (Transaction is not null) await Transaction.CommitAsync(ct);
        _writing?.Dispose(); // the next writer may go while the notices are sent
        foreach (var action in _afterCommit) action();
    }

    /// <summary>Rolls back what was not committed; closes the connection of its own, or the request context's if it opened it.</summary>
    public async ValueTask DisposeAsync()
    {
        try
        {
            if (_connections is not null)
            {
                try
                {
                    if (_db is not null) await _db.DisposeAsync();
                    if (Transaction is not null) await Transaction.DisposeAsync();
                }
                finally
                {
                    await Release(Connection, _kept); // a rollback that failed left it broken: closed, not kept
                }
            }
            else if (_efTransaction is not null) await _efTransaction.DisposeAsync();
            else await _db!.Database.CloseConnectionAsync();
        }
        finally
        {
            _writing?.Dispose(); // SQLite's one writer turn goes back even when a rollback or close throws
        }
    }
}
