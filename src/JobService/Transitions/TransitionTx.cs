using System.Data.Common;
using JobService.Data;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Storage;

namespace JobService.Transitions;

/// <summary>
/// One transition's database transaction: EF Core's connection and transaction, so that a row
/// EF inserts (a new job) and the statements here (events, hooks) commit together; the
/// clock reading the whole transition uses; and what to do once it committed. A transition
/// that is one round trip with nothing to write beside it may instead run that command on its
/// own (<see cref="BeginSelfCommittingAsync"/>): it commits as it returns, with no COMMIT round trip.
/// </summary>
public sealed class TransitionTx : IAsyncDisposable
{
    readonly IDbContextTransaction? _transaction; // null: each statement commits by itself
    readonly List<Action> _afterCommit = [];
    readonly IAsyncDisposable? _ownedContext;
    readonly IDisposable? _writing;

    TransitionTx(JobsDbContext db, IDbContextTransaction? transaction, IJobDriver driver, DateTime now, IAsyncDisposable? owned, IDisposable? writing)
    {
        Db = db;
        _transaction = transaction;
        Driver = driver;
        Now = now;
        _ownedContext = owned;
        _writing = writing;
    }

    public JobsDbContext Db { get; }
    public IJobDriver Driver { get; }
    public DateTime Now { get; }
    public DbConnection Connection => Db.Database.GetDbConnection();
    public DbTransaction? Transaction => _transaction?.GetDbTransaction();

    public static Task<TransitionTx> BeginAsync(JobsDbContext db, IJobDriver driver, DateTime now, bool ownsContext, CancellationToken ct) =>
        StartAsync(db, driver, now, ownsContext ? db : null, inTransaction: true, ct);

    /// <summary>
    /// No transaction: the connection is opened and each command commits by itself, so the
    /// caller runs exactly one that writes (a statement, or a batch, which the server runs as one
    /// implicit transaction), and its hooks write nothing (a second write would commit apart from
    /// the first). <see cref="CommitAsync"/> then only runs the after-commit work.
    /// </summary>
    public static Task<TransitionTx> BeginSelfCommittingAsync(JobsDbContext db, IJobDriver driver, DateTime now, bool ownsContext, CancellationToken ct) =>
        StartAsync(db, driver, now, ownsContext ? db : null, inTransaction: false, ct);

    static async Task<TransitionTx> StartAsync(JobsDbContext db, IJobDriver driver, DateTime now, IAsyncDisposable? owned,
        bool inTransaction, CancellationToken ct)
    {
        var writing = await driver.BeginWriteAsync(ct);
        try
        {
            IDbContextTransaction? transaction = null;
            if (inTransaction) transaction = await db.Database.BeginTransactionAsync(ct);
            else await db.Database.OpenConnectionAsync(ct);
            return new TransitionTx(db, transaction, driver, now, owned, writing);
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
        await using var reader = await command.ExecuteReaderAsync(ct);
        for (var i = 0; i < skipResults; i++) await reader.NextResultAsync(ct); // statements before the one whose rows these are
        while (await reader.ReadAsync(ct)) rows.Add(read(reader));
        return rows;
    }

    /// <summary>Runs once the transaction committed (a notification, a signal): never for a rolled-back change.</summary>
    public void AfterCommit(Action action) => _afterCommit.Add(action);

    public async Task CommitAsync(CancellationToken ct)
    {
        if (_transaction is not null) await _transaction.CommitAsync(ct);
        _writing?.Dispose(); // the next writer may go while the notices are sent
        foreach (var action in _afterCommit) action();
    }

    public async ValueTask DisposeAsync()
    {
        if (_transaction is not null) await _transaction.DisposeAsync();
        else await Db.Database.CloseConnectionAsync();
        _writing?.Dispose();
        if (_ownedContext is not null) await _ownedContext.DisposeAsync();
    }
}
