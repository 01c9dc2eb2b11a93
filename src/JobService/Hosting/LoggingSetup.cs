using Serilog;
using Serilog.Core;
using Serilog.Events;
using Serilog.Formatting.Json;

namespace JobService.Hosting;

/// <summary>
/// Serilog as the logging provider (Serilog.AspNetCore cannot be restored here). Levels and
/// enrichers come from the <c>Serilog</c> section; <c>Logs:Format</c> picks readable text or
/// JSON lines on the console. Scopes become properties, so every line written while a job
/// runs carries its JobId, JobType and Attempt.
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

    public static WebApplicationBuilder AddJobServiceLogging(this WebApplicationBuilder builder)
    {
        var format = builder.Configuration["Logs:Format"] ?? "text";
        if (format is not ("text" or "json"))
            throw new InvalidOperationException($"Logs:Format must be 'text' or 'json', not '{format}'.");

        var config = new LoggerConfiguration()
            .ReadFrom.Configuration(builder.Configuration)
            .Enrich.FromLogContext()
            .Enrich.With<JobTagEnricher>();
        config = format == "json"
            ? config.WriteTo.Console(new JsonFormatter(renderMessage: true))
            : config.WriteTo.Console(outputTemplate: TextTemplate);
        builder.Logging.ClearProviders().AddSerilog(config.CreateLogger(), dispose: true);

        return builder;
    }
}
