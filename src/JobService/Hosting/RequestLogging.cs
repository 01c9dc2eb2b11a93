using System.Diagnostics;

namespace JobService.Hosting;

/// <summary>
/// One line per request: method, path, status, milliseconds. ASP.NET's HttpLogging writes
/// several lines per request; this is what an operator greps. Placed first, so that it sees
/// the status the exception handler finally chose.
/// </summary>
public sealed class RequestLogging(RequestDelegate next, ILogger<RequestLogging> log)
{
    public async Task InvokeAsync(HttpContext http)
    {
        var started = Stopwatch.GetTimestamp();
        try
        {
            await next(http);
        }
        finally
        {
            var status = http.Response.StatusCode;
            var level = status >= 500 ? LogLevel.Error : LogLevel.Information;
            log.Log(level, "HTTP {Method} {Path} responded {StatusCode} in {Elapsed:0.0} ms",
                http.Request.Method, http.Request.Path.Value, status, Stopwatch.GetElapsedTime(started).TotalMilliseconds);
        }
    }
}
