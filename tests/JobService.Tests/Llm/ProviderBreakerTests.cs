using JobService.Llm;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Time.Testing;

namespace JobService.Tests.Llm;

/// <summary>The provider breaker's rules, on a fake clock: when it opens, who may call while it is open, how its window grows, and what closes it.</summary>
public sealed class ProviderBreakerTests
{
    readonly FakeTimeProvider _time = new(DateTimeOffset.UtcNow);
    static readonly Guid A = Guid.NewGuid(), B = Guid.NewGuid(), C = Guid.NewGuid(), D = Guid.NewGuid();

    ProviderBreaker Breaker(int failures = 3) =>
        new("p", new LlmOptions { BreakerFailures = failures, BreakerOpenSeconds = 30 }, _time, NullLogger.Instance);

    ProviderBreaker Opened()
    {
        var breaker = Breaker();
        foreach (var job in new[] { A, B, A }) breaker.Failed(job, "HTTP 503");
        Assert.NotNull(breaker.Refusal(C));
        return breaker;
    }

    [Fact]
    public void OneJobsFailuresAloneNeverOpenItAndASecondJobsDo()
    {
        var breaker = Breaker();
        for (var i = 0; i < 10; i++) breaker.Failed(A, "HTTP 500");
        Assert.Null(breaker.Refusal(B));

        breaker.Failed(B, "HTTP 503");

        var refused = breaker.Refusal(C)!;
        Assert.Equal(TimeSpan.FromSeconds(30), refused.After);
        Assert.Equal("The model provider 'p' gave no answer to 11 calls in a row (the last: HTTP 503); its calls wait 30 s", refused.Message);
    }

    [Fact]
    public void AnAnswerBetweenFailuresStartsTheCountAgainAndZeroFailuresNeverOpens()
    {
        var breaker = Breaker();
        breaker.Failed(A, "HTTP 503");
        breaker.Failed(B, "HTTP 503");
        breaker.Answered();
        breaker.Failed(A, "HTTP 503");
        breaker.Failed(B, "HTTP 503");
        Assert.Null(breaker.Refusal(C));

        var never = Breaker(failures: 0);
        for (var i = 0; i < 100; i++) never.Failed(i % 2 == 0 ? A : B, "HTTP 503");
        Assert.Null(never.Refusal(C));
    }

    [Fact]
    public void WhenTheWindowEndsOneJobProbesItsRetriesGoOutTooAndOnlyItsFailureDoublesTheWindowUpToTenTimes()
    {
        var breaker = Opened();
        _time.Advance(TimeSpan.FromSeconds(30));

        Assert.Null(breaker.Refusal(C)); // the probe
        Assert.Equal(TimeSpan.FromSeconds(30 + 60), breaker.Refusal(D)!.After); // past the next window, should the probe fail
        breaker.Failed(A, "HTTP 503"); // a call that went out before: not the probe's answer
        Assert.Equal(TimeSpan.FromSeconds(30 + 60), breaker.Refusal(D)!.After);
        breaker.Failed(C, "HTTP 503");
        Assert.Equal(TimeSpan.FromSeconds(60), breaker.Refusal(D)!.After);
        Assert.Null(breaker.Refusal(C)); // the probe job's retry goes out
        breaker.Failed(C, "HTTP 503");
        Assert.Equal(TimeSpan.FromSeconds(60), breaker.Refusal(D)!.After); // its retry's failure does not double it again
        breaker.CallEnded(C); // its retries used up: its next attempt waits like any job's (regression: each went out, and was spent)
        Assert.NotNull(breaker.Refusal(C));

        foreach (var window in new[] { 120, 240, 300, 300 })
        {
            _time.Advance(breaker.Refusal(D)!.After);
            Assert.Null(breaker.Refusal(A));
            breaker.Failed(A, "HTTP 503");
            Assert.Equal(TimeSpan.FromSeconds(window), breaker.Refusal(D)!.After);
        }
    }

    [Fact]
    public void AnAnswerClosesItOnceAndSaysSo()
    {
        var breaker = Opened();
        var closed = new List<string>();
        breaker.Closed += closed.Add;
        _time.Advance(TimeSpan.FromSeconds(30));
        Assert.Null(breaker.Refusal(C));

        breaker.Answered();
        breaker.Answered();

        Assert.Equal(["p"], closed);
        Assert.Null(breaker.Refusal(D));
        breaker.Failed(A, "HTTP 503");
        breaker.Failed(B, "HTTP 503");
        Assert.Null(breaker.Refusal(D)); // counted afresh: two of three
    }
}
