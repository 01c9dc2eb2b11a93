using Serilog;
using Serilog.Core;
using Serilog.Events;
using Serilog.Formatting.Compact;

namespace JobService.Hosting;

/// <summary>
/// Serilog (Serilog.AspNetCore) as the logging provider. Levels come from the <c>Serilog</c>
/// section; <c>Logs:Format</c> picks readable text or compact JSON lines on the console. Scopes
/// become properties, and every line written while a job runs carries its JobId, JobType and
/// Attempt (<see cref="Worker.AttemptLog"/>).
/// </summary>
public static class LoggingSetup
{
    /// <summary>Readable text lines show which job wrote them: " [job 0197… text_generation #2]".</summary>
    sealed class JobTagEnricher : ILogEventEnricher
    {
        public void Enrich(LogEvent e, ILogEventPropertyFactory factory)
        {
            var tag = e.Properties.TryGetValue("JobId", out var id)
                ? $" [job {Plain(id)} {Plain(e.Properties.GetValueOrDefault("JobType"))} #{Plain(e.Properties.GetValueOrDefault("Attempt"))}]"
                : "";
            e.AddPropertyIfAbsent(factory.CreateProperty("JobTag", tag));
        }

        static string Plain(LogEventPropertyValue? v) => v is ScalarValue { Value: { } x } ? x.ToString() ?? "" : "";
    }

    const string TextTemplate =
        "[{Timestamp:HH:mm:ss} {Level:u3}]{JobTag} {Message:lj}{NewLine}{Exception}";

    /// <summary>
    /// Where Serilog's configuration looks for sinks and formatters by name: the console sink and
    /// the JSON formatter the service ships with (more through Serilog:Using, as Serilog documents).
    /// Named here, Serilog does not read the whole deps.json to find them, which cost every
    /// start ~120 methods compiled on the way to the first job.
    /// </summary>
    static readonly Serilog.Settings.Configuration.ConfigurationReaderOptions SinkAssemblies =
        new(typeof(ConsoleLoggerConfigurationExtensions).Assembly, typeof(RenderedCompactJsonFormatter).Assembly);

    /// <param name="toStandardError">Every line on stderr: for a verb whose stdout is its answer (create-key prints the key).</param>
    public static WebApplicationBuilder AddJobServiceLogging(this WebApplicationBuilder builder, bool toStandardError = false)
    {
        if (KnownSettings.Unknown(builder.Configuration.GetSection("Logs"), "Format") is { } stray) throw new StartupRefusedException(stray);
        var format = builder.Configuration["Logs:Format"] ?? "text";
        if (format is not ("text" or "json"))
            throw new StartupRefusedException($"Logs:Format must be 'text' or 'json', not '{format}'.");
        foreach (var (key, value) in LevelSettings(builder.Configuration))
            if (!value.StartsWith('$') && !Enum.TryParse<LogEventLevel>(value, ignoreCase: true, out _))
                throw new StartupRefusedException($"{key} must be a level (Verbose, Debug, Information, Warning, Error, Fatal), not '{value}'.");

        builder.Services.AddSerilog(preserveStaticLogger: true, configureLogger: (services, config) =>
        {
            // EF Core logs every failed command at Error, including the expected ones (the
            // migrations history table that does not exist yet on a first start, a lost
            // Idempotency-Key race). Whoever handles the exception logs what matters; a
            // setting under Serilog:MinimumLevel:Override still wins over this default.
            config.MinimumLevel.Override("Microsoft.EntityFrameworkCore.Database.Command", LogEventLevel.Fatal)
                .MinimumLevel.Override("Microsoft.EntityFrameworkCore.Update", LogEventLevel.Fatal)
                // The same failures seen from the connection and the query: during a database outage each request
                // logged dozens of stack traces, where the outage is one warning line (docs/workers.md).
                .MinimumLevel.Override("Microsoft.EntityFrameworkCore.Database.Connection", LogEventLevel.Fatal)
                .MinimumLevel.Override("Microsoft.EntityFrameworkCore.Query", LogEventLevel.Fatal)
                // Four lines per HTTP call an exporter or a model call makes; their failures are the callers' to tell.
                .MinimumLevel.Override("System.Net.Http.HttpClient", LogEventLevel.Warning)
                // "was not authenticated", "was challenged": the request's own line says 401 already.
                .MinimumLevel.Override(typeof(Auth.ApiKeyAuthentication).FullName!, LogEventLevel.Warning)
                // An unhealthy probe is in /health/ready's answer; logging it at Error on every probe is noise.
                .MinimumLevel.Override("Microsoft.Extensions.Diagnostics.HealthChecks", LogEventLevel.Fatal)
                .ReadFrom.Configuration(builder.Configuration, SinkAssemblies)
                .ReadFrom.Services(services)
                .Enrich.With<Worker.AttemptLog>()
                .Enrich.FromLogContext()
                .Filter.ByExcluding(StartupFailure.IsToldByProgram);
            LogEventLevel? stderrFrom = toStandardError ? LogEventLevel.Verbose : null;
            if (format == "json") config.WriteTo.Console(new RenderedCompactJsonFormatter(), standardErrorFromLevel: stderrFrom);
            else config.Enrich.With<JobTagEnricher>().WriteTo.Console(outputTemplate: TextTemplate, standardErrorFromLevel: stderrFrom); // JSON has JobId, JobType and Attempt as fields
        });
        return builder;
    }

    /// <summary>The level settings Serilog reads: MinimumLevel itself, or its Default and each Override.</summary>
    static IEnumerable<(string Key, string Value)> LevelSettings(IConfiguration configuration)
    {
        var levels = configuration.GetSection("Serilog:MinimumLevel");
        foreach (var setting in new[] { levels, levels.GetSection("Default") }.Concat(levels.GetSection("Override").GetChildren()))
            if (setting.Value is { Length: > 0 } value) yield return (setting.Path, value);
    }

    /// <summary>
    /// One line per request (method, path, status, milliseconds), logged after the exception handler
    /// chose the status; the client's address goes with it as <c>ClientAddress</c> (a trusted proxy's
    /// client's, Service:TrustedProxies), seen in the JSON format.
    /// </summary>
    public static IApplicationBuilder UseJobServiceRequestLogging(this IApplicationBuilder app) =>
        app.UseSerilogRequestLogging(o =>
        {
            o.MessageTemplate = "HTTP {RequestMethod:l} {RequestPath:l} responded {StatusCode} in {Elapsed:0.0} ms";
            o.EnrichDiagnosticContext = (log, http) => log.Set("ClientAddress", http.Connection.RemoteIpAddress?.ToString());
            // Probes and scrapes come every few seconds and say nothing new; a real 5xx is an error.
            // A 503 (database away, or starting) has its own warning line already.
            o.GetLevel = (http, _, e) => http.Request.Path.StartsWithSegments("/health") || http.Request.Path.StartsWithSegments("/metrics") ? LogEventLevel.Debug
                : http.Response.StatusCode == 503 ? LogEventLevel.Warning
                : e is not null || http.Response.StatusCode >= 500 ? LogEventLevel.Error : LogEventLevel.Information;
            o.Logger = app.ApplicationServices.GetRequiredService<Serilog.ILogger>(); // this host's logger, not the static one
        });
}
