using System.Text.Json;
using System.Text.RegularExpressions;
using Microsoft.AspNetCore.Diagnostics;

namespace JobService.Api;

/// <summary>
/// The one place exceptions become ProblemDetails. Bad requests caught by ASP.NET's binding
/// (broken JSON, a non-UUID id, a wrong content type) keep their 4xx and say what was wrong;
/// anything else is a 500 whose detail hides internals (the log has them).
/// </summary>
public sealed partial class ProblemExceptionHandler(IProblemDetailsService problems, ILogger<ProblemExceptionHandler> log)
    : IExceptionHandler
{
    public async ValueTask<bool> TryHandleAsync(HttpContext http, Exception exception, CancellationToken ct)
    {
        var (status, title, detail) = exception switch
        {
            BadHttpRequestException bad => (bad.StatusCode, Title(bad.StatusCode), Describe(bad)),
            _ when Data.DatabaseErrors.IsUnavailable(exception) => (StatusCodes.Status503ServiceUnavailable, "Database unavailable",
                "The service cannot reach its database right now; nothing was changed by this request unless it says otherwise. Try again shortly."),
            _ => (StatusCodes.Status500InternalServerError, "Internal error",
                "The service failed to handle the request. The error has been logged with the request's trace id."),
        };
        if (status == StatusCodes.Status503ServiceUnavailable)
        {
            // An outage is expected to pass: one line, not a stack trace per request.
            log.LogWarning("{Method} {Path}: the database is unavailable ({Error}); answered 503", http.Request.Method, http.Request.Path,
                Data.DatabaseErrors.OneLine(exception));
            http.Response.Headers.RetryAfter = "5";
        }
        else if (status >= 500) log.LogError(exception, "Unhandled error on {Method} {Path}", http.Request.Method, http.Request.Path);
        else log.LogInformation("Rejected {Method} {Path}: {Status} {Detail}", http.Request.Method, http.Request.Path, status, detail);

        http.Response.StatusCode = status;
        return await problems.TryWriteAsync(new ProblemDetailsContext
        {
            HttpContext = http,
            ProblemDetails = { Status = status, Title = title, Detail = detail },
        });
    }

    static string Title(int status) => status switch
    {
        StatusCodes.Status413PayloadTooLarge => "Request body too large",
        StatusCodes.Status415UnsupportedMediaType => "Unsupported media type",
        StatusCodes.Status405MethodNotAllowed => "Method not allowed",
        _ => "Bad request",
    };

    /// <summary>Says what was wrong in the client's terms: JSON paths and field names, not .NET types.</summary>
    static string Describe(BadHttpRequestException bad)
    {
        if (bad.InnerException is JsonException json)
        {
            var reason = json.Message;
            var cut = reason.IndexOf(" Path:", StringComparison.Ordinal);
            if (cut > 0) reason = reason[..cut];
            reason = ConvertedTo().Replace(reason, "The value has the wrong JSON type or format.");
            reason = UnmappedMember().Replace(reason, " is not a known field.");
            return $"The request body is not a valid JSON job request (at {json.Path ?? "$"}): {reason}";
        }
        if (bad.Message.StartsWith("Failed to bind parameter \"Guid id\"", StringComparison.Ordinal))
            return "The job id in the path is not a UUID.";
        return bad.Message;
    }

    [GeneratedRegex(@"The JSON value could not be converted to [^ ]+\.")]
    private static partial Regex ConvertedTo();

    [GeneratedRegex(@" could not be mapped to any \.NET member contained in type '[^']*'\.")]
    private static partial Regex UnmappedMember();
}
