using System.Net;
using JobService.Auth;
using JobService.Tests.Infrastructure;

namespace JobService.Tests.Api;

/// <summary>The per-instance rate limits' arithmetic and what a refusal tells the client.</summary>
public sealed class RateLimitTests
{
    /// <summary>Regression: reads used a sliding window, whose refusals carry no wait: every 429 said Retry-After: 1 while the real wait was up to a minute.</summary>
    [Fact]
    public async Task AReadRefusedSaysInRetryAfterWhenTheNextOneCanPass()
    {
        await using var app = new WorkerApp(TestDatabase.Sqlite(), new() { ["RateLimits:ReadsPerMinute"] = "2" });
        Assert.Equal(HttpStatusCode.OK, (await app.Client.GetAsync("/jobs")).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await app.Client.GetAsync("/jobs")).StatusCode);

        var refused = await app.Client.GetAsync("/jobs");

        Assert.Equal(RateLimited.RateLimitType, (await refused.ShouldBeProblemAsync(HttpStatusCode.TooManyRequests)).Str("type"));
        var wait = refused.Headers.RetryAfter?.Delta ?? TimeSpan.Zero;
        Assert.InRange(wait, TimeSpan.FromSeconds(25), TimeSpan.FromSeconds(30)); // 2 a minute: a token every 30 s
    }

    /// <summary>Regression: a rate of 60 a minute or more was refilled as whole tokens a second, so 119 a minute was 60, and 90 was 60.</summary>
    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(59)]
    [InlineData(60)]
    [InlineData(90)]
    [InlineData(119)]
    [InlineData(6_001)]
    [InlineData(10_000_000)]
    public void ABucketRefillsAtExactlyItsRateAMinute(int perMinute)
    {
        var bucket = AuthSetup.PerMinute(perMinute, burst: 10);

        Assert.Equal(perMinute, bucket.TokensPerPeriod / bucket.ReplenishmentPeriod.TotalMinutes, perMinute * 1e-6); // to the period's 100 ns tick
        Assert.True(bucket.ReplenishmentPeriod >= TimeSpan.FromSeconds(0.5), $"a timer every {bucket.ReplenishmentPeriod}"); // never a busy timer
        Assert.Equal(10, bucket.TokenLimit);
    }
}
