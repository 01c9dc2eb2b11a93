using System.Diagnostics.Metrics;

namespace JobService.Hosting;

/// <summary>
/// The service's own instruments, on the <c>JobService</c> meter (created through IMeterFactory, so
/// each host in a process has its own). Every instrument is defined here, with its unit and
/// description; docs/observability.md lists them under their Prometheus names. Labels are bounded
/// sets (job type, status, outcome, a configured model): never a job id, a tenant or a payload value.
/// </summary>
public sealed class JobServiceMetrics
{
    public const string MeterName = "JobService";

    // LLM jobs run from seconds to many minutes: the buckets reach an hour.
    static readonly double[] JobSeconds = [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 900, 1800, 3600];
    static readonly double[] FirstTokenSeconds = [0.05, 0.1, 0.25, 0.5, 1, 2, 4, 8, 15, 30, 60];
    // The OpenTelemetry GenAI conventions' own bucket advice.
    static readonly double[] GenAiSeconds = [0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92];
    static readonly long[] GenAiTokens = [1, 4, 16, 64, 256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304, 16777216, 67108864];

    public JobServiceMetrics(IMeterFactory meters)
    {
        Meter = meters.Create(MeterName);
        OutcomeWriteRetries = Meter.CreateCounter<long>("jobservice.worker.outcome_write_retries", "{write}",
            "Writes of finished work retried because the database failed, kept while the lease may be the worker's " +
            "(jobservice.write: outcome, a running job's log line or model usage, or a webhook attempt's answer: webhook_attempt)");

        JobsCreated = Meter.CreateCounter<long>("jobservice.jobs.created", "{job}",
            "Jobs stored by POST /jobs and POST /jobs/batch; an idempotent replay is not a new job");
        JobsFinished = Meter.CreateCounter<long>("jobservice.jobs.finished", "{job}",
            "Jobs that reached completed, failed or cancelled (a job retried by POST /jobs/{id}/retry can finish again)");
        JobAttempts = Meter.CreateCounter<long>("jobservice.job.attempts", "{attempt}",
            "Attempts that ended, by outcome: success, error, retry, cancelled, lease_expired, timeout, handed_back");
        QueueWait = Seconds("jobservice.job.queue_wait", "From the later of created and run_at to the claim that started the attempt", JobSeconds);
        RunDuration = Seconds("jobservice.job.run_duration", "One attempt, from its claim to its end; status is the job's after it", JobSeconds);
        EndToEnd = Seconds("jobservice.job.end_to_end", "From created to completed, failed or cancelled", JobSeconds);

        LlmRequests = Meter.CreateCounter<long>("jobservice.llm.requests", "{request}",
            "Model calls by outcome: ok, rate_limited, server_error, timeout, cancelled, unavailable (no answer), error (HTTP retries inside a call are in http.client.*)");
        LlmCallsHeld = Meter.CreateCounter<long>("jobservice.llm.calls_held", "{call}",
            "Model calls not made because their provider's breaker was open (it gave no answer to many calls in a row), by provider; their jobs wait unspent");
        LlmTokens = Meter.CreateCounter<long>("jobservice.llm.tokens", "{token}",
            "Tokens recorded in the jobs' usage, by token_type input or output (estimated counts included, as the jobs' usage has them)");
        LlmCost = Meter.CreateCounter<double>("jobservice.llm.cost_usd", "{USD}", "USD recorded in the jobs' usage, from the price table");
        LlmFirstToken = Seconds("jobservice.llm.time_to_first_token", "From sending a model call to its first streamed token", FirstTokenSeconds);

        GenAiOperationDuration = Meter.CreateHistogram("gen_ai.client.operation.duration", "s", "GenAI operation duration",
            advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = GenAiSeconds });
        GenAiTokenUsage = Meter.CreateHistogram("gen_ai.client.token.usage", "{token}", "Measures number of input and output tokens used",
            advice: new InstrumentAdvice<long> { HistogramBucketBoundaries = GenAiTokens });

        WebhookDeliveries = Meter.CreateCounter<long>("jobservice.webhook.deliveries", "{delivery}", "Completion webhook delivery attempts by outcome: succeeded, retrying, failed (given up), gone (410), blocked (an internal address)");
        RateLimited = Meter.CreateCounter<long>("jobservice.rate_limited", "{request}", "Requests refused with a 429, by policy: submit, read, streams (per-instance rate limits) or active_jobs (the tenant quota)");
    }

    /// <summary>For the observable gauges, which need the services they read (see Observability/JobGauges).</summary>
    public Meter Meter { get; }

    public Counter<long> OutcomeWriteRetries { get; }
    public Counter<long> JobsCreated { get; }
    public Counter<long> JobsFinished { get; }
    public Counter<long> JobAttempts { get; }
    public Histogram<double> QueueWait { get; }
    public Histogram<double> RunDuration { get; }
    public Histogram<double> EndToEnd { get; }
    public Counter<long> LlmRequests { get; }
    public Counter<long> LlmCallsHeld { get; }
    public Counter<long> LlmTokens { get; }
    public Counter<double> LlmCost { get; }
    public Histogram<double> LlmFirstToken { get; }
    public Histogram<double> GenAiOperationDuration { get; }
    public Histogram<long> GenAiTokenUsage { get; }
    Counter<long> WebhookDeliveries { get; }
    Counter<long> RateLimited { get; }

    /// <summary>True when something (an exporter) listens to the job outcome instruments: otherwise the hook does no work at all.</summary>
    public bool JobOutcomesObserved => JobsCreated.Enabled || JobsFinished.Enabled || JobAttempts.Enabled || QueueWait.Enabled || LlmTokens.Enabled;

    /// <summary>One completion webhook delivery attempt ended: <paramref name="outcome"/> is a short fixed word (succeeded, retrying, failed, gone, blocked), never a URL.</summary>
    public void WebhookDelivered(string outcome) => WebhookDeliveries.Add(1, new KeyValuePair<string, object?>("outcome", outcome));

    /// <summary>A request was refused by the rate-limit <paramref name="policy"/> (its configured name, never a key or a tenant).</summary>
    public void RequestRateLimited(string policy) => RateLimited.Add(1, new KeyValuePair<string, object?>("policy", policy));

    Histogram<double> Seconds(string name, string description, double[] buckets) =>
        Meter.CreateHistogram(name, "s", description, advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = buckets });
}
