using JobService.Data;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;

namespace JobService.Hosting;

/// <summary>
/// Waits for the database at start-up, retrying with backoff for
/// <see cref="DatabaseOptions.StartupTimeoutSeconds"/> with one log line per try, then applies
/// migrations unless a deployment runs them as a step. The wait begins as early as the service
/// provider exists (<see cref="ServiceSetup.PrepareJobServiceAsync"/> calls <see cref="BeginWaiting"/>;
/// the host's start does otherwise), on a thread of its own: the first connection costs a third
/// of a second of Npgsql's code compiled on first use, and that now overlaps the
/// settings check, the endpoints' mapping and Kestrel's start instead of following them. The
/// migrations wait for the host's start (<see cref="IHostedLifecycleService.StartingAsync"/>), so a
/// start stopped by a bad setting changes nothing. Kestrel answers meanwhile and /health/ready
/// says unhealthy; the background loops wait for <see cref="DatabaseReady"/> before they touch
/// the database, and the host's start returns only once it is ready
/// (<see cref="IHostedLifecycleService.StartedAsync"/> waits for it). Ready is said there, once
/// the server listens and the <see cref="IStartedCheck"/>s passed: a start they refuse has run
/// no job and answered no request but 503s.
/// </summary>
public sealed class DatabaseStartup(IServiceProvider services, IOptions<DatabaseOptions> options, DatabaseReady ready,
    IEnumerable<IStartupStep> steps, IEnumerable<IStartedCheck> checks) : IHostedLifecycleService, IDisposable
{
    readonly CancellationTokenSource _stopped = new(); // a host stopped or never started (a bad setting) stops waiting
    Task? _answering;
    Task _preparing = Task.CompletedTask;

    /// <summary>Starts waiting for the database to answer, once (main thread only); the start-up awaits it.</summary>
    public void BeginWaiting() => _answering ??= Task.Run(() => services.WaitForDatabaseAsync(_stopped.Token));

    /// <summary>
    /// Stops the wait <see cref="BeginWaiting"/> began and returns once it has let go of the
    /// database: a start refused by a bad setting leaves nothing running behind it (the wait's open
    /// of a SQLite file created it again after a test had deleted its folder).
    /// </summary>
    public async Task AbandonAsync()
    {
        await _stopped.CancelAsync();
        if (_answering is { } answering) await answering.ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing); // its outcome no longer matters
    }

    public Task StartingAsync(CancellationToken ct)
    {
        BeginWaiting();
        _preparing = Task.Run(() => PrepareAsync(ct), CancellationToken.None);
        return Task.CompletedTask;
    }

    public async Task StartedAsync(CancellationToken ct)
    {
        await _preparing;
        try
        {
            foreach (var check in checks) check.Check();
        }
        catch (Exception e)
        {
            ready.Fail(e);
            throw;
        }
        ready.Set();
    }

    async Task PrepareAsync(CancellationToken ct)
    {
        try
        {
            await _answering!.WaitAsync(ct);
            if (options.Value.MigrateOnStartup) await services.MigrateJobsDatabaseAsync(ct);
            else await services.WaitForMigrationsAsync(ct);
            foreach (var step in steps) await step.RunAsync(ct);
        }
        catch (Exception e)
        {
            ready.Fail(e);
            throw;
        }
    }

    public Task StartAsync(CancellationToken ct) => Task.CompletedTask;
    public Task StopAsync(CancellationToken ct) => _stopped.CancelAsync();
    public Task StoppingAsync(CancellationToken ct) => Task.CompletedTask;
    public Task StoppedAsync(CancellationToken ct) => Task.CompletedTask;

    /// <summary>Called once per registration (itself and as a hosted service): cancelling twice is harmless.</summary>
    public void Dispose() => _stopped.Cancel();
}

/// <summary>
/// Work the database must have done before the service says it is ready (/health/ready, and
/// the background loops' first statement): run once the database answers and is migrated. A
/// step that throws stops the start-up.
/// </summary>
public interface IStartupStep
{
    Task RunAsync(CancellationToken ct);
}

/// <summary>
/// A refusal that can only be decided once the server listens (where it listens): checked after the
/// host's start, before <see cref="DatabaseReady"/> is said; one that throws stops the start-up.
/// </summary>
public interface IStartedCheck
{
    void Check();
}

/// <summary>
/// Completes once the database answers, is migrated, its start-up steps ran and the started checks
/// passed: what the background loops wait for before their first statement. It is said at the end
/// of the host's start, so a hosted service's StartAsync (which that start waits for) must not wait
/// for it: a BackgroundService's loop does.
/// </summary>
public sealed class DatabaseReady
{
    readonly TaskCompletionSource _ready = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public bool IsReady => _ready.Task.IsCompletedSuccessfully;
    public void Set() => _ready.TrySetResult();
    public void Fail(Exception e) => _ready.TrySetException(e);

    /// <summary>True when ready; false when stopping first, or when the start-up failed (the host is stopping then too).</summary>
    public async Task<bool> WaitAsync(CancellationToken ct)
    {
        try
        {
            await _ready.Task.WaitAsync(ct);
            return true;
        }
        catch (Exception) when (ct.IsCancellationRequested || _ready.Task.IsFaulted)
        {
            return false;
        }
    }
}

/// <summary>The database did not answer within the start-up timeout, refused the login, or is a file this process cannot use; the message is the one line an operator reads.</summary>
public sealed class DatabaseUnavailableException(string message) : Exception(message);

public static class DatabaseWait
{
    /// <summary>Opens a connection until one succeeds, or throws <see cref="DatabaseUnavailableException"/> after the timeout.</summary>
    public static async Task WaitForDatabaseAsync(this IServiceProvider services, CancellationToken ct = default)
    {
        var options = services.GetRequiredService<IOptions<DatabaseOptions>>().Value;
        var log = services.GetRequiredService<ILoggerFactory>().CreateLogger("JobService.Database");
        var where = Describe(options);
        var deadline = DateTime.UtcNow.AddSeconds(options.StartupTimeoutSeconds);
        var delay = TimeSpan.FromSeconds(1);
        for (var attempt = 1; ; attempt++)
        {
            string error;
            try
            {
                await using (var connection = await services.GetRequiredService<JobsConnections>().OpenAsync(ct))
                    if (!options.IsPostgres) await ProbeSqliteWriteAsync(connection, ct);
                if (attempt > 1) log.LogInformation("The database at {Where} answers now", where);
                return;
            }
            catch (Exception e) when (DatabaseErrors.IsLoginRefused(e))
            {
                throw new DatabaseUnavailableException($"The database at {where} refused the login: {DatabaseErrors.OneLine(e)} (ConnectionStrings:Jobs)");
            }
            catch (Exception e) when (DatabaseErrors.IsUnusableFile(e))
            {
                throw new DatabaseUnavailableException($"The database at {where} cannot be used by this process: {DatabaseErrors.OneLine(e)} " +
                                                       "(ConnectionStrings:Jobs; the file and its folder must be a SQLite database this user may write)");
            }
            catch (Exception e) when (e is not OperationCanceledException || !ct.IsCancellationRequested)
            {
                error = DatabaseErrors.OneLine(e);
            }
            var left = deadline - DateTime.UtcNow;
            if (left <= TimeSpan.Zero)
                throw new DatabaseUnavailableException(
                    $"The database at {where} did not answer within {options.StartupTimeoutSeconds} s " +
                    $"(Database:StartupTimeoutSeconds): {error}");
            var wait = delay < left ? delay : left;
            log.LogWarning("The database at {Where} does not answer (try {Attempt}): {Error}; trying again in {Wait:0.#} s",
                where, attempt, error, wait.TotalSeconds);
            await Task.Delay(wait, ct);
            delay = TimeSpan.FromSeconds(Math.Min(delay.TotalSeconds * 2, 10));
        }
    }

    /// <summary>
    /// A SQLite file read-only to this process opens without a word, and every write then failed: a
    /// service that said it was ready and answered 500. Writing the header's user_version (as it is)
    /// finds it at the start.
    /// </summary>
    static async Task ProbeSqliteWriteAsync(System.Data.Common.DbConnection connection, CancellationToken ct)
    {
        await using var command = connection.CreateCommand();
        command.CommandText = "PRAGMA user_version";
        var version = Convert.ToInt64(await command.ExecuteScalarAsync(ct), System.Globalization.CultureInfo.InvariantCulture);
        command.CommandText = $"PRAGMA user_version = {version}";
        await command.ExecuteNonQueryAsync(ct);
    }

    static string Describe(DatabaseOptions options)
    {
        if (!options.IsPostgres) return new Microsoft.Data.Sqlite.SqliteConnectionStringBuilder(options.ConnectionString).DataSource;
        var pg = new Npgsql.NpgsqlConnectionStringBuilder(options.ConnectionString);
        return $"{pg.Host}:{pg.Port}";
    }
}
