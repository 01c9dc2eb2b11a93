using System.ComponentModel.DataAnnotations;

namespace JobService.Observability;

/// <summary>The <c>Metrics</c> section (docs/observability.md). OTLP export is the standard OTEL_EXPORTER_OTLP_* variables.</summary>
public sealed class MetricsOptions
{
    public const string Section = "Metrics";

    public PrometheusOptions Prometheus { get; set; } = new();

    /// <summary>
    /// A Bearer token that GET /metrics requires (Prometheus: <c>authorization: {credentials: …}</c>).
    /// With Auth:Enabled and no token, /metrics refuses every scrape rather than stand open.
    /// </summary>
    public string? ScrapeToken { get; set; }

    /// <summary>The job-count gauges come from one GROUP BY over the jobs table, read at most this often (0: every collection).</summary>
    [Range(0, 3_600)] public int GaugeCacheSeconds { get; set; } = 15;

    public sealed class PrometheusOptions
    {
        /// <summary>Serve GET /metrics in Prometheus text format.</summary>
        public bool Enabled { get; set; } = true;
    }
}
