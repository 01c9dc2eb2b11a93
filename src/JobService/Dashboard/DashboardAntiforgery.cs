using JobService.Api;
using JobService.Auth;
using Microsoft.Extensions.Options;

namespace JobService.Dashboard;

/// <summary>
/// A change (POST, PUT, PATCH, DELETE) authenticated by the dashboard's session cookie must carry
/// the session's antiforgery token in X-Dashboard-Token, or it is a 400. Runs after authorization,
/// so that a key without the scope still gets its 403. Requests with an API key in a header need
/// no token: a browser never adds that header by itself.
/// </summary>
public sealed class DashboardAntiforgery(RequestDelegate next, DashboardSession sessions, IOptions<DashboardOptions> options)
{
    /// <summary>Not async for what needs no token (every API call with a key, every read): every request passes here.</summary>
    public Task InvokeAsync(HttpContext http)
    {
        if (HttpMethods.IsGet(http.Request.Method) || HttpMethods.IsHead(http.Request.Method) || HttpMethods.IsOptions(http.Request.Method)
            || SessionCookie(http) is not { } cookie
            || (HttpMethods.IsPost(http.Request.Method) && http.Request.Path.Equals(options.Value.Path + "/session"))) // signing in again
            return next(http);
        return CheckedThenNextAsync(http, cookie);
    }

    async Task CheckedThenNextAsync(HttpContext http, string cookie)
    {
        if (await sessions.IsTokenValidAsync(cookie, http.Request.Headers[DashboardSession.TokenHeader].FirstOrDefault(), http.RequestAborted))
        {
            await next(http);
            return;
        }
        await ProblemResponse.WriteAsync(http, StatusCodes.Status400BadRequest, "Antiforgery token missing or invalid",
            $"A change made with the dashboard's session cookie must carry its antiforgery token in {DashboardSession.TokenHeader} " +
            $"(GET {options.Value.Path}/session gives it). Reload the page and try again.");
    }

    /// <summary>The session cookie, when it is what authenticated this request.</summary>
    public static string? SessionCookie(HttpContext http) =>
        ApiKeyAuthentication.SessionOf(http.User) is not null ? http.Request.Cookies[DashboardSession.CookieName] : null;
}
