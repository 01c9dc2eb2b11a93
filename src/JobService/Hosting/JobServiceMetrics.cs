using System.Diagnostics.Metrics;

namespace JobService.Hosting;

/// <summary>The service's own instruments, on the <c>JobService</c> meter (created through IMeterFactory).</summary>
public sealed class JobServiceMetrics
{
    public const string MeterName = "JobService";

    public JobServiceMetrics(IMeterFactory meters)
    {
        var meter = meters.Create(MeterName);
        OutcomeWriteRetries = meter.CreateCounter<long>("jobservice.worker.outcome_write_retries",
            description: "Outcome writes retried because the database failed (finished work kept while the lease may be the worker's)");
    }

    public Counter<long> OutcomeWriteRetries { get; }
}
