namespace JobService.Api;

/// <summary>
/// A request that would change something, sent by a page of another site, is a 403 before
/// anything runs. Browsers say where a request comes from in <c>Sec-Fetch-Site</c>; a page
/// anywhere on the web may POST to <c>localhost</c> without reading the answer (a form, a no-cors
/// fetch), and with auth off (the loopback default) nothing else would stop it pausing a type,
/// cancelling jobs or rotating the webhook secret. The API serves no cross-origin pages (it sends no
/// CORS headers), so nothing legitimate is refused; servers, curl and the dashboard (same origin)
/// send no such header or a same-origin one.
/// </summary>
public sealed class CrossSiteRefusal(RequestDelegate next)
{
    public Task InvokeAsync(HttpContext http)
    {
        if (HttpMethods.IsGet(http.Request.Method) || HttpMethods.IsHead(http.Request.Method) || HttpMethods.IsOptions(http.Request.Method))
            return next(http);
        var site = http.Request.Headers["Sec-Fetch-Site"].ToString();
        if (site is not ("cross-site" or "same-site")) return next(http);
        return ProblemResponse.WriteAsync(http, StatusCodes.Status403Forbidden, "Cross-site request refused",
            $"A page of another site sent this {http.Request.Method} (Sec-Fetch-Site: {site}); this service takes changes from servers " +
            "and from its own pages only. Call it from your backend, or serve your page from the service's origin (docs/security.md).");
    }
}
