namespace JobService.Hosting;

/// <summary>
/// Until the database answers and is migrated (<see cref="DatabaseReady"/>), API requests get a
/// 503 ProblemDetails with Retry-After instead of a failed query; the health endpoints answer as usual.
/// </summary>
public sealed class DatabaseNotReady(RequestDelegate next, DatabaseReady ready)
{
    public Task InvokeAsync(HttpContext http)
    {
        if (ready.IsReady || http.Request.Path.StartsWithSegments("/health") || http.Request.Path.StartsWithSegments("/swagger"))
            return next(http);
        http.Response.Headers.RetryAfter = "5";
        return Api.ProblemResponse.WriteAsync(http, StatusCodes.Status503ServiceUnavailable, "Starting up",
            "The service is waiting for its database (see /health/ready); try again shortly.");
    }
}
