using System.Data.Common;
using JobService.Data;
using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Storage;

namespace JobService.Transitions;

/// <summary>
/// One transition's database transaction: EF Core's connection and transaction, so that a row
/// EF inserts (a new job) and the statements here (events, hooks) commit together; the
/// clock reading the whole transition uses; and what to do once it committed.
/// </summary>
public sealed class TransitionTx : IAsyncDisposable
{
    readonly IDbContextTransaction _transaction;
    readonly List<Action> _afterCommit = [];
    readonly IAsyncDisposable? _ownedContext;
    readonly IDisposable? _writing;

    TransitionTx(JobsDbContext db, IDbContextTransaction transaction, IJobDriver driver, DateTime now, IAsyncDisposable? owned, IDisposable? writing)
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
    public DbTransaction Transaction => _transaction.GetDbTransaction();

    public static async Task<TransitionTx> BeginAsync(JobsDbContext db, IJobDriver driver, DateTime now, bool ownsContext, CancellationToken ct)
    {
        var writing = await driver.BeginWriteAsync(ct);
        try
        {
            var transaction = await db.Database.BeginTransactionAsync(ct);
            return new TransitionTx(db, transaction, driver, now, ownsContext ? db : null, writing);
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

    /// <summary>Runs a statement that returns <see cref="JobRow.Columns"/> (and maybe more, read by <paramref name="extra"/>).</summary>
    public async Task<List<T>> RowsAsync<T>(DbCommand command, Func<DbDataReader, T> read, CancellationToken ct)
    {
        var rows = new List<T>();
        await using var reader = await command.ExecuteReaderAsync(ct);
        while (await reader.ReadAsync(ct)) rows.Add(read(reader));
        return rows;
    }

    /// <summary>Runs once the transaction committed (a notification, a signal): never for a rolled-back change.</summary>
    public void AfterCommit(Action action) => _afterCommit.Add(action);

    public async Task CommitAsync(CancellationToken ct)
    {
        await _transaction.CommitAsync(ct);
        _writing?.Dispose(); // the next writer may go while the notices are sent
        foreach (var action in _afterCommit) action();
    }

    public async ValueTask DisposeAsync()
    {
        await _transaction.DisposeAsync();
        _writing?.Dispose();
        if (_ownedContext is not null) await _ownedContext.DisposeAsync();
    }
}
