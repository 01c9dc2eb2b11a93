using System.Text.Json;
using Microsoft.AspNetCore.Mvc;
using Microsoft.AspNetCore.WebUtilities;
using Microsoft.Extensions.Options;

namespace JobService.Api;

/// <summary>
/// Every error is a ProblemDetails in JSON, whatever the request's Accept header says: ASP.NET's
/// own writer declines when a client accepts only text/html, which left an empty 400 (and an
/// "unhandled exception" in the log). Registered first, it always writes.
/// </summary>
public sealed class ProblemJsonWriter(IOptions<ProblemDetailsOptions> options, IOptions<Microsoft.AspNetCore.Http.Json.JsonOptions> json)
    : IProblemDetailsWriter
{
    /// <summary>The RFC 9110 (and 6585) sections ASP.NET's own writer links to, so that both write the same type.</summary>
    static readonly Dictionary<int, string> Types = new()
    {
        [400] = "https://tools.ietf.org/html/rfc9110#section-15.5.1",
        [401] = "https://tools.ietf.org/html/rfc9110#section-15.5.2",
        [403] = "https://tools.ietf.org/html/rfc9110#section-15.5.4",
        [404] = "https://tools.ietf.org/html/rfc9110#section-15.5.5",
        [405] = "https://tools.ietf.org/html/rfc9110#section-15.5.6",
        [406] = "https://tools.ietf.org/html/rfc9110#section-15.5.7",
        [409] = "https://tools.ietf.org/html/rfc9110#section-15.5.10",
        [413] = "https://tools.ietf.org/html/rfc9110#section-15.5.14",
        [415] = "https://tools.ietf.org/html/rfc9110#section-15.5.16",
        [422] = "https://tools.ietf.org/html/rfc9110#section-15.5.21",
        [429] = "https://tools.ietf.org/html/rfc6585#section-4",
        [500] = "https://tools.ietf.org/html/rfc9110#section-15.6.1",
        [503] = "https://tools.ietf.org/html/rfc9110#section-15.6.4",
    };

    public bool CanWrite(ProblemDetailsContext context) => true;

    public ValueTask WriteAsync(ProblemDetailsContext context)
    {
        var http = context.HttpContext;
        var problem = context.ProblemDetails;
        problem.Status ??= http.Response.StatusCode;
        // A title that is only the status's reason phrase ("Unsupported Media Type", ASP.NET's default)
        // is written as the service's own titles are, in sentence case ("Unsupported media type").
        var phrase = ReasonPhrases.GetReasonPhrase(problem.Status.Value);
        if (problem.Title is null || problem.Title == phrase)
            problem.Title = string.Join(' ', phrase.Split(' ').Select((word, i) => i == 0 || word.All(char.IsUpper) ? word : word.ToLowerInvariant())); // URI, HTTP kept
        problem.Type ??= Types.GetValueOrDefault(problem.Status.Value);
        if (problem.Detail is null && problem is HttpValidationProblemDetails invalid) problem.Detail = Summary(invalid.Errors);
        // The trace's id alone, as the logs (@tr), a job's events and its log lines carry it: an error's id finds them with one grep.
        problem.Extensions.TryAdd("trace_id", System.Diagnostics.Activity.Current?.TraceId.ToHexString() ?? http.TraceIdentifier);
        options.Value.CustomizeProblemDetails?.Invoke(context);
        return new ValueTask(http.Response.WriteAsJsonAsync(problem, problem.GetType(), json.Value.SerializerOptions, "application/problem+json"));
    }

    /// <summary>
    /// A validation problem's detail: its first errors in one line, each with its field, so that a
    /// client or a log that shows only title and detail still says what was wrong (every problem has
    /// a detail); <c>errors</c> keeps them all, by field.
    /// </summary>
    public static string? Summary(IDictionary<string, string[]> errors)
    {
        var all = errors.SelectMany(e => e.Value.Select(message =>
            (message.Contains(e.Key, StringComparison.OrdinalIgnoreCase) ? message : $"{e.Key}: {message}").TrimEnd('.'))).ToList();
        if (all.Count == 0) return null;
        var shown = string.Join("; ", all.Take(3)) + ".";
        return all.Count > 3 ? $"{shown} ({all.Count - 3} more in errors.)" : shown;
    }
}

/// <summary>A ProblemDetails written from middleware (outside an endpoint's typed results), worded by the caller.</summary>
public static class ProblemResponse
{
    public static Task WriteAsync(HttpContext http, int status, string title, string detail, string? type = null,
        IReadOnlyDictionary<string, object?>? extensions = null)
    {
        http.Response.StatusCode = status;
        var problem = new ProblemDetails { Status = status, Title = title, Detail = detail, Type = type };
        foreach (var (key, value) in extensions ?? new Dictionary<string, object?>()) problem.Extensions[key] = value;
        return http.RequestServices.GetRequiredService<IProblemDetailsService>()
            .WriteAsync(new ProblemDetailsContext { HttpContext = http, ProblemDetails = problem }).AsTask();
    }
}
