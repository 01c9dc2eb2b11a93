using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace JobService.Data;

/// <summary>
/// Ready means this process's start-up is done (the API answers rather than 503 "Starting up"),
/// the database answers, and no migration is pending. A database another process already migrated
/// is not enough: this one may still be starting.
/// </summary>
public sealed class DatabaseHealthCheck(JobsDbContext db, Hosting.DatabaseReady ready) : IHealthCheck
{
    public async Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        if (!ready.IsReady) return HealthCheckResult.Unhealthy("The service is starting: its database start-up (wait, migrations) is not done.");
        try
        {
            if (!await db.Database.CanConnectAsync(cancellationToken))
                return HealthCheckResult.Unhealthy("The database cannot be reached.");
            var pending = (await db.Database.GetPendingMigrationsAsync(cancellationToken)).ToList();
            return pending.Count == 0
                ? HealthCheckResult.Healthy("The database is reachable and migrated.")
                : HealthCheckResult.Unhealthy($"Migrations not applied: {string.Join(", ", pending)}.");
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            // The message, not the exception: a probe every few seconds must not print a stack trace each time.
            return HealthCheckResult.Unhealthy($"The database cannot be reached: {e.GetBaseException().Message.ReplaceLineEndings(" ")}");
        }
    }
}
