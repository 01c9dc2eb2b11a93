using System.Diagnostics.Metrics;
using JobService.Hosting;
using JobService.Transitions;
using Npgsql;
using OpenTelemetry;
using OpenTelemetry.Metrics;
using OpenTelemetry.Resources;
using OpenTelemetry.Trace;

namespace JobService.Observability;

/// <summary>
/// Metrics and traces (docs/observability.md): the JobService meter and ActivitySource, ASP.NET
/// Core's, Kestrel's, HttpClient's and Npgsql's own, exported by OpenTelemetry: GET /metrics in
/// Prometheus text (Metrics:Prometheus:Enabled) and OTLP when OTEL_EXPORTER_OTLP_ENDPOINT is set.
/// </summary>
public static class ObservabilitySetup
{
    const string OtlpEndpoint = "OTEL_EXPORTER_OTLP_ENDPOINT";

    public static IServiceCollection AddJobServiceObservability(this IServiceCollection services, IConfiguration configuration)
    {
        services.AddOptions<MetricsOptions>().BindConfiguration(MetricsOptions.Section).RefuseUnknownKeys(MetricsOptions.Section).ValidateDataAnnotations().ValidateOnStart();
        services.AddSingleton<ModelLabels>();
        services.AddSingleton<QueueSnapshot>();
        services.AddSingleton<JobGauges>();
        services.AddSingleton<TraceParents>();
        services.AddSingleton<IJobTransitionHook, TransitionMetrics>();

        var options = configuration.GetSection(MetricsOptions.Section).Get<MetricsOptions>() ?? new MetricsOptions();
        var otlpMetrics = Configured(configuration, OtlpEndpoint) || Configured(configuration, "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT");
        var otlpTraces = Configured(configuration, OtlpEndpoint) || Configured(configuration, "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT");

        var otel = services.AddOpenTelemetry()
            .ConfigureResource(r => r.AddService(configuration["OTEL_SERVICE_NAME"] ?? "jobservice"));
        // No exporter, no MeterProvider: nothing listens, and every instrument costs next to nothing.
        if (options.Prometheus.Enabled || otlpMetrics)
            otel.WithMetrics(metrics =>
            {
                metrics.AddMeter(JobServiceMetrics.MeterName)
                    .AddMeter(AspNetCoreMeters)
                    .AddHttpClientInstrumentation()
                    .AddNpgsqlInstrumentation()
                    .AddInstrumentation(sp => sp.GetRequiredService<JobGauges>());
                // Uncached: Prometheus scrapes every 15 s or so, and the gauges' query has a cache of its own.
                if (options.Prometheus.Enabled) metrics.AddPrometheusExporter(o => o.ScrapeResponseCacheDurationMilliseconds = 0);
                if (otlpMetrics) metrics.AddOtlpExporter();
            });
        services.ConfigureOpenTelemetryMeterProvider((sp, metrics) => metrics.AddView(OwnMetersOnly(sp.GetRequiredService<IMeterFactory>())));

        // What a TracerProvider records, whoever builds one: OTLP here, or a test's in-memory exporter.
        services.ConfigureOpenTelemetryTracerProvider(tracing => tracing
            .AddSource(JobTracing.SourceName)
            .AddAspNetCoreInstrumentation(o => o.Filter = http => !IsQuiet(http.Request.Path))
            .AddHttpClientInstrumentation()
            .AddNpgsql()
            .SetSampler(new ParentBasedSampler(new RootCallsDropped())));
        if (otlpTraces) otel.WithTracing(tracing => tracing.AddOtlpExporter());
        return services;
    }

    /// <summary>
    /// ASP.NET Core's meters that docs/observability.md lists, by name. Its instrumentation package
    /// (<c>AddAspNetCoreInstrumentation</c>) would add every meter ASP.NET Core has, .NET 10's memory
    /// pool, authentication and authorization meters among them: measurements on every request (the
    /// pool's on every buffer rented and returned) that no documented metric or alert reads: 1.5–6 %
    /// of a <c>GET /jobs/{id}</c>'s CPU, measured side by side (docs/benchmarks.md, forty-third session).
    /// </summary>
    static readonly string[] AspNetCoreMeters =
    [
        "Microsoft.AspNetCore.Hosting", "Microsoft.AspNetCore.Server.Kestrel", "Microsoft.AspNetCore.Routing",
        "Microsoft.AspNetCore.Diagnostics", "Microsoft.AspNetCore.RateLimiting",
    ];

    /// <summary>GET /metrics (when Metrics:Prometheus:Enabled), behind the scrape token (<see cref="ScrapeToken"/>).</summary>
    public static WebApplication MapJobServiceMetrics(this WebApplication app)
    {
        if (app.Services.GetService<MeterProvider>() is not { } provider) return app;
        if (!(app.Configuration.GetSection(MetricsOptions.Section).Get<MetricsOptions>() ?? new MetricsOptions()).Prometheus.Enabled) return app;
        var authOn = app.Configuration.GetValue<bool>($"{Auth.AuthOptions.Section}:Enabled");
        app.MapPrometheusScrapingEndpoint("/metrics", provider, branch => ScrapeToken.Require(branch, authOn), optionsName: null);
        return app;
    }

    /// <summary>
    /// OpenTelemetry listens to meters by name across the whole process; a meter made by another
    /// container's IMeterFactory (another host in the same process: the tests run many) is that
    /// host's to count, not this one's. Meters made without a factory (HttpClient's, Npgsql's) stay.
    /// </summary>
    static Func<Instrument, MetricStreamConfiguration?> OwnMetersOnly(IMeterFactory own) =>
        instrument => instrument.Meter.Scope is IMeterFactory factory && !ReferenceEquals(factory, own) ? MetricStreamConfiguration.Drop : null;

    /// <summary>Scrapes and probes come every few seconds and say nothing a trace would want.</summary>
    static bool IsQuiet(PathString path) => path.StartsWithSegments("/metrics") || path.StartsWithSegments("/health");

    static bool Configured(IConfiguration configuration, string key) => !string.IsNullOrWhiteSpace(configuration[key]);
}
