using System.Security.Cryptography;
using System.Text;
using Microsoft.Extensions.Options;

namespace JobService.Observability;

/// <summary>
/// Guards GET /metrics: with Metrics:ScrapeToken set, a scrape must send it as a Bearer token; with
/// Auth:Enabled and no token configured, every scrape is refused (the metrics name job types and
/// spending, which an authenticated deployment does not publish to anyone who asks).
/// </summary>
public static class ScrapeToken
{
    /// <summary>The scrape endpoint's branch: <paramref name="authOn"/> is Auth:Enabled.</summary>
    public static void Require(IApplicationBuilder branch, bool authOn) => branch.Use(async (http, next) =>
    {
        var token = http.RequestServices.GetRequiredService<IOptions<MetricsOptions>>().Value.ScrapeToken;
        if (string.IsNullOrEmpty(token) ? !authOn : Matches(http.Request.Headers.Authorization.ToString(), token))
        {
            await next(http);
            return;
        }
        http.Response.StatusCode = StatusCodes.Status401Unauthorized;
        http.Response.Headers.WWWAuthenticate = "Bearer realm=\"metrics\"";
        await http.RequestServices.GetRequiredService<IProblemDetailsService>().WriteAsync(new ProblemDetailsContext
        {
            HttpContext = http,
            ProblemDetails =
            {
                Status = StatusCodes.Status401Unauthorized,
                Title = "A scrape token is required",
                Detail = string.IsNullOrEmpty(token)
                    ? "Auth is on and Metrics:ScrapeToken is not set: set it, and send it as 'Authorization: Bearer <token>'."
                    : "Send Metrics:ScrapeToken as 'Authorization: Bearer <token>'.",
            },
        });
    });

    /// <summary>Compared in constant time: the time a wrong guess takes says nothing about the token.</summary>
    static bool Matches(string header, string token)
    {
        const string scheme = "Bearer ";
        if (!header.StartsWith(scheme, StringComparison.OrdinalIgnoreCase)) return false;
        var sent = SHA256.HashData(Encoding.UTF8.GetBytes(header[scheme.Length..].Trim()));
        var expected = SHA256.HashData(Encoding.UTF8.GetBytes(token));
        return CryptographicOperations.FixedTimeEquals(sent, expected);
    }
}
