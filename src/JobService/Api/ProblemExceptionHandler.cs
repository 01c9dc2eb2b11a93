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
        var (status, title, detail, field) = exception switch
        {
            BadHttpRequestException bad when Describe(bad, http.Request.Path) is var (text, name) => (bad.StatusCode, Title(bad), text, name),
            _ when Data.DatabaseErrors.IsUnavailable(exception) => (StatusCodes.Status503ServiceUnavailable, (string?)"Database unavailable",
                "The service cannot reach its database right now; nothing was changed by this request unless it says otherwise. Try again shortly.", null),
            _ => (StatusCodes.Status500InternalServerError, "Internal error",
                "The service failed to handle the request. The error has been logged with the request's trace id.", (string?)null),
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
        var problem = new Microsoft.AspNetCore.Mvc.ProblemDetails { Status = status, Title = title, Detail = detail };
        // As a validation problem names its fields: a client shows the message beside the one it can name.
        if (field is not null) problem.Extensions["errors"] = new Dictionary<string, string[]> { [field] = [detail] };
        return await problems.TryWriteAsync(new ProblemDetailsContext { HttpContext = http, ProblemDetails = problem });
    }

    /// <summary>The title, where it says more than the status's reason phrase (which the writer sets otherwise).</summary>
    static string? Title(BadHttpRequestException bad) => bad.StatusCode switch
    {
        StatusCodes.Status400BadRequest when bad.InnerException is JsonException => "The request body is invalid",
        StatusCodes.Status413PayloadTooLarge => "Request body too large",
        _ => null,
    };

    /// <summary>Says what was wrong in the client's terms (JSON paths and field names, not .NET types), and the field when there is one.</summary>
    static (string Detail, string? Field) Describe(BadHttpRequestException bad, PathString path)
    {
        if (bad.InnerException is JsonException json)
        {
            var at = json.Path is null or "$" ? null : json.Path.StartsWith("$.", StringComparison.Ordinal) ? json.Path[2..] : json.Path;
            // A missing field is named itself (jobs[0].type), not the object that lacks it.
            if (JsonText.MissingFields(json) is [var missing, ..]) at = at is null ? missing : $"{at}.{missing}";
            return ($"The request body is not valid JSON for this request (at {json.Path ?? "$"}): {JsonText.Readable(json)}", at);
        }
        if (BindFailure().Match(bad.Message) is { Success: true } m)
        {
            // The message names the C# parameter (createdAfter); the client sent the query's name (created_after).
            var (type, name, value) = (m.Groups["type"].Value, JsonNamingPolicy.SnakeCaseLower.ConvertName(m.Groups["name"].Value), m.Groups["value"].Value);
            if (name == "id" && type.EndsWith("Guid", StringComparison.Ordinal))
                return ($"The {IdNoun(path)} id in the path is not a UUID.", null);
            return ($"{name} must be {JsonText.Expected(type)}, not '{value.Clip(40)}'.", name);
        }
        if (bad.Message.StartsWith("Implicit body inferred", StringComparison.Ordinal) || bad.Message.Contains("no body was provided", StringComparison.Ordinal))
            return ("The request needs a JSON body.", null);
        return (bad.Message, null);
    }

    static string IdNoun(PathString path) =>
        path.StartsWithSegments("/deliveries") ? "delivery" : path.StartsWithSegments("/api-keys") ? "API key" : "job";

    [GeneratedRegex("""^Failed to bind parameter "(?<type>[^"]*) (?<name>[^" ]+)" from "(?<value>.*)"\.$""", RegexOptions.Singleline)]
    private static partial Regex BindFailure();
}
