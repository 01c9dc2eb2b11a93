using System.Globalization;
using System.Threading.RateLimiting;
using Microsoft.AspNetCore.RateLimiting;

namespace JobService.Auth;

/// <summary>
/// The 429s, told apart by their ProblemDetails type: a rate limit (per instance, per key: wait
/// Retry-After) or a tenant's quota of active jobs (cluster-wide: wait for jobs to finish).
/// </summary>
public static class RateLimited
{
    public const string RateLimitType = "https://jobservice.dev/problems/rate-limited";
    public const string QuotaType = "https://jobservice.dev/problems/quota-exceeded";
    /// <summary>The quota's name in jobservice_rate_limited_total, beside the rate limits' policy names.</summary>
    public const string QuotaPolicy = "active_jobs";
    /// <summary>Retry-After of a refused stream: a pace for reconnect loops (an EventSource's own default is 3 s).</summary>
    public const int StreamRetryAfterSeconds = 10;

    public static async ValueTask WriteAsync(OnRejectedContext context, CancellationToken ct)
    {
        var http = context.HttpContext;
        var policy = http.GetEndpoint()?.Metadata.GetMetadata<EnableRateLimitingAttribute>()?.PolicyName ?? "other";
        http.RequestServices.GetRequiredService<Hosting.JobServiceMetrics>().RequestRateLimited(policy);
        if (policy == AuthSetup.StreamLimit)
        {
            // A limit on open streams, not a rate: no one knows when a stream closes, so Retry-After is a
            // pace for a client that reconnects in a loop (an EventSource), not a promise.
            http.Response.Headers.RetryAfter = StreamRetryAfterSeconds.ToString(CultureInfo.InvariantCulture);
            await Api.ProblemResponse.WriteAsync(http, StatusCodes.Status429TooManyRequests, "Too many open streams",
                "This key (or address) has as many event streams open on this instance as RateLimits:StreamsPerKey allows; " +
                "close one, or try again when one has ended.", RateLimitType);
            return;
        }
        var wait = context.Lease.TryGetMetadata(MetadataName.RetryAfter, out var retryAfter) ? retryAfter : TimeSpan.FromSeconds(1);
        http.Response.Headers.RetryAfter = Math.Max(1, (int)Math.Ceiling(wait.TotalSeconds)).ToString(CultureInfo.InvariantCulture);
        await Api.ProblemResponse.WriteAsync(http, StatusCodes.Status429TooManyRequests, "Too many requests",
            "This key (or address) is over its request rate on this instance; try again after Retry-After seconds.", RateLimitType);
    }
}
