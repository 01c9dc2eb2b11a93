using Serilog;
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
    const string TextTemplate =
        "[{Timestamp:HH:mm:ss} {Level:u3}] {Message:lj}{NewLine}{Exception}";

    public static WebApplicationBuilder AddJobServiceLogging(this WebApplicationBuilder builder)
    {
        var format = builder.Configuration["Logs:Format"] ?? "text";
        if (format is not ("text" or "json"))
            throw new InvalidOperationException($"Logs:Format must be 'text' or 'json', not '{format}'.");

        var config = new LoggerConfiguration()
            .ReadFrom.Configuration(builder.Configuration)
            .Enrich.FromLogContext();
        config = format == "json"
            ? config.WriteTo.Console(new JsonFormatter(renderMessage: true))
            : config.WriteTo.Console(outputTemplate: TextTemplate);
        builder.Logging.ClearProviders().AddSerilog(config.CreateLogger(), dispose: true);

        return builder;
    }
}
