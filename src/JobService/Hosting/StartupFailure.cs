using System.Text.RegularExpressions;
using Microsoft.Extensions.Options;

namespace JobService.Hosting;

/// <summary>A setting combination the service refuses to run with; the message names the keys.</summary>
public sealed class StartupRefusedException(string message) : Exception(message);

/// <summary>The start-up failures an operator fixes by configuration, told in one line; anything else is a bug and keeps its stack trace.</summary>
public static partial class StartupFailure
{
    public static string? Describe(Exception e) => e switch
    {
        OptionsValidationException o => string.Join(" ", o.Failures.Select(Unwrapped)),
        // The binder's own word for a value of the wrong kind (Worker__Concurrency=abc) names the key and the type.
        InvalidOperationException i when i.Message.StartsWith("Failed to convert configuration value", StringComparison.Ordinal) => i.Message,
        DatabaseUnavailableException d => d.Message,
        StartupRefusedException r => r.Message,
        // Kestrel's "Failed to bind to address http://127.0.0.1:5000: address already in use.": a port another process holds.
        IOException { InnerException: Microsoft.AspNetCore.Connections.AddressInUseException } io => $"{io.Message} (--urls or Urls picks another)",
        AggregateException { InnerExceptions.Count: 1 } a => Describe(a.InnerException!),
        _ => null,
    };

    /// <summary>
    /// A settings class's own check (IValidatableObject) words its failure with the key already;
    /// the framework's wrapper around it names no member and only hides the sentence.
    /// </summary>
    static string Unwrapped(string failure) => Wrapper().Match(failure) is { Success: true } m ? m.Groups["sentence"].Value : failure;

    [GeneratedRegex(@"^DataAnnotation validation failed for '[^']*' members: '' with the error: '(?<sentence>.*)'\.$", RegexOptions.Singleline)]
    private static partial Regex Wrapper();

    /// <summary>
    /// False when the service is hosted by a test (WebApplicationFactory runs Program.Main in the
    /// test process): there the exception must reach the test rather than become an exit code.
    /// </summary>
    public static bool IsOwnProcess => System.Reflection.Assembly.GetEntryAssembly() == typeof(StartupFailure).Assembly;

    /// <summary>
    /// The host's own "Hosting failed to start" error for a failure Program.cs tells in one line:
    /// left out of the log, so that an operator reads the line and not a stack trace.
    /// </summary>
    public static bool IsToldByProgram(Serilog.Events.LogEvent e) =>
        e.Exception is not null && (Describe(e.Exception) is not null || e.Exception is OperationCanceledException)
        && e.Properties.TryGetValue("SourceContext", out var source) && source.ToString() == "\"Microsoft.Extensions.Hosting.Internal.Host\"";
}
