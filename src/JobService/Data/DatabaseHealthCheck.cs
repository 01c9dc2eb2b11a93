using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Logging.Abstractions;

namespace JobService.Data;

/// <summary>
/// Ready means this process's start-up is done (the API answers rather than 503 "Starting up"),
/// the database answers, and no migration is pending. A database another process already migrated
/// is not enough: this one may still be starting. Plain statements (<see cref="JobsConnections"/>):
/// a worker's probes do not start EF Core.
/// </summary>
public sealed class DatabaseHealthCheck(JobsConnections connections, Hosting.DatabaseReady ready) : IHealthCheck
{
    public async Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        if (!ready.IsReady) return HealthCheckResult.Unhealthy("The service is starting: its database start-up (wait, migrations) is not done.");
        List<string>? pending;
        try
        {
            // One connection when all is well; only an unreadable history needs a second look, to
            // tell a database that cannot be reached from one whose history cannot be read.
            pending = await Hosting.Migrations.PendingFromHistoryAsync(connections, NullLogger.Instance, cancellationToken);
            if (pending is null) await using (await connections.OpenAsync(cancellationToken)) { }
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            // The message, not the exception: a probe every few seconds must not print a stack trace each time.
            return HealthCheckResult.Unhealthy($"The database cannot be reached: {e.GetBaseException().Message.ReplaceLineEndings(" ")}");
        }
        return pending switch
        {
            [] => HealthCheckResult.Healthy("The database is reachable and migrated."),
            null => HealthCheckResult.Unhealthy("Migrations not applied: the migrations history could not be read."),
            _ => HealthCheckResult.Unhealthy($"Migrations not applied: {string.Join(", ", pending)}."),
        };
    }
}
