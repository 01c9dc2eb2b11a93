using Npgsql;

namespace JobService.Worker;

/// <summary>
/// PostgreSQL LISTEN on one dedicated connection: new jobs wake this process's idle workers
/// within milliseconds, and a cancel reaches the handler of a job running here within about
/// a second. A dropped connection is reopened with backoff; after each reconnect the workers
/// are woken once, to pick up whatever was announced while it was away (a missed cancel is
/// still caught by the heartbeat, which reads cancel flags).
/// </summary>
public sealed class PostgresListener(IConfiguration configuration, JobWakeup wakeup, RunningJobs running, ILogger<PostgresListener> log)
    : BackgroundService
{
    readonly TaskCompletionSource _listening = new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>Completes once the first LISTEN is in place: notifications sent before it are not delivered.</summary>
    public Task Listening => _listening.Task;

    protected override async Task ExecuteAsync(CancellationToken stopping)
    {
        var connectionString = new NpgsqlConnectionStringBuilder(configuration.GetConnectionString("Jobs"))
        {
            KeepAlive = 15, // notice a silently dead connection instead of waiting forever
            Pooling = false,
        }.ConnectionString;
        var delay = TimeSpan.FromSeconds(1);
        while (!stopping.IsCancellationRequested)
        {
            try
            {
                await using var connection = new NpgsqlConnection(connectionString);
                await connection.OpenAsync(stopping);
                connection.Notification += OnNotification;
                await using (var listen = new NpgsqlCommand($"LISTEN {JobSignals.JobsChannel}; LISTEN {JobSignals.CancelChannel};", connection))
                    await listen.ExecuteNonQueryAsync(stopping);
                log.LogInformation("Listening for job notifications");
                delay = TimeSpan.FromSeconds(1);
                wakeup.Signal();
                _listening.TrySetResult();
                while (!stopping.IsCancellationRequested) await connection.WaitAsync(stopping);
            }
            catch (OperationCanceledException) when (stopping.IsCancellationRequested)
            {
                return;
            }
            catch (Exception e)
            {
                if (JobService.Data.DatabaseErrors.IsUnavailable(e))
                    log.LogWarning("The notification connection failed: {Error}; reconnecting in {Delay}", JobService.Data.DatabaseErrors.OneLine(e), delay);
                else
                    log.LogWarning(e, "The notification connection failed; reconnecting in {Delay}", delay);
                try { await Task.Delay(delay, stopping); } catch (OperationCanceledException) { return; }
                delay = TimeSpan.FromSeconds(Math.Min(delay.TotalSeconds * 2, 30));
            }
        }
    }

    void OnNotification(object sender, NpgsqlNotificationEventArgs e)
    {
        if (e.Channel == JobSignals.JobsChannel) wakeup.Signal();
        else if (e.Channel == JobSignals.CancelChannel && Guid.TryParse(e.Payload, out var id)) running.Cancel(id, StopReason.Cancelled);
    }
}
