using JobService.Worker;

namespace JobService.Tests.Worker;

public sealed class RetryBackoffTests
{
    [Theory]
    [InlineData(1, 2)]
    [InlineData(2, 4)]
    [InlineData(3, 8)]
    [InlineData(6, 64)]
    [InlineData(9, 512)]
    public void TheDelayDoublesPerAttemptWithinTwentyPercentJitter(int attempt, double seconds)
    {
        var backoff = new RetryBackoff(2, 600, new Random(attempt));
        var delays = Enumerable.Range(0, 200).Select(_ => backoff.After(attempt).TotalSeconds).ToList();

        Assert.All(delays, d => Assert.InRange(d, seconds * 0.8, seconds * 1.2));
        Assert.True(delays.Distinct().Count() > 100, "jitter should spread the delays");
        Assert.InRange(delays.Average(), seconds * 0.95, seconds * 1.05);
    }

    [Theory]
    [InlineData(10)]
    [InlineData(50)]
    [InlineData(int.MaxValue)]
    public void TheDelayNeverExceedsTheMaximum(int attempt)
    {
        var backoff = new RetryBackoff(2, 600, new Random(1));
        Assert.All(Enumerable.Range(0, 100), _ => Assert.InRange(backoff.After(attempt).TotalSeconds, 480, 600));
    }
}
