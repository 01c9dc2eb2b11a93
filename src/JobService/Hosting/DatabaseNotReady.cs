namespace JobService.Hosting;

/// <summary>
/// Until the database answers and is migrated (<see cref="DatabaseReady"/>), API requests get a
/// 503 ProblemDetails with Retry-After instead of a failed query; the health endpoints answer as usual.
/// </summary>
public sealed class DatabaseNotReady(RequestDelegate next, DatabaseReady ready, IProblemDetailsService problems)
{
    public Task InvokeAsync(HttpContext http)
    {
        if (ready.IsReady || http.Request.Path.StartsWithSegments("/health") || http.Request.Path.StartsWithSegments("/swagger"))
            return next(http);
        http.Response.StatusCode = StatusCodes.Status503ServiceUnavailable;
        http.Response.Headers.RetryAfter = "5";
        return problems.WriteAsync(new ProblemDetailsContext
        {
            HttpContext = http,
            ProblemDetails =
            {
                Status = StatusCodes.Status503ServiceUnavailable,
                Title = "Starting up",
                Detail = "The service is waiting for its database (see /health/ready); try again shortly.",
            },
        }).AsTask();
    }
}
