namespace JobService.Api;

/// <summary>
/// HEAD is answered as its GET is, headers only (RFC 9110: every general-purpose server supports
/// it): uptime monitors probe with HEAD, and minimal APIs route GET alone, so HEAD /health/ready
/// was a 405. Before routing, HEAD becomes GET; Kestrel knows the request line's method still and
/// sends no body. The method is HEAD again for the request log and metrics once the answer is made.
/// A stream (Server-Sent Events) asks <see cref="Asked"/> and ends after its headers.
/// </summary>
public sealed class HeadAsGet(RequestDelegate next)
{
    static readonly object Marker = new();

    public static bool Asked(HttpContext http) => http.Items.ContainsKey(Marker);

    /// <summary>A 405's Allow lists HEAD wherever it lists GET (RFC 9110: the methods the resource supports); routing lists GET alone.</summary>
    public static void ListInAllow(HttpContext http)
    {
        if (http.Response.StatusCode != StatusCodes.Status405MethodNotAllowed || http.Response.HasStarted) return;
        var allow = http.Response.Headers.Allow.ToString();
        var methods = allow.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries);
        if (methods.Contains(HttpMethods.Get) && !methods.Contains(HttpMethods.Head)) http.Response.Headers.Allow = $"{allow}, {HttpMethods.Head}";
    }

    public Task InvokeAsync(HttpContext http) => HttpMethods.IsHead(http.Request.Method) ? AsGetAsync(http) : next(http);

    async Task AsGetAsync(HttpContext http)
    {
        http.Items[Marker] = true;
        http.Request.Method = HttpMethods.Get;
        try { await next(http); }
        finally { http.Request.Method = HttpMethods.Head; }
    }
}
