namespace JobService.Worker;

/// <summary>
/// When a failed attempt runs again. With the defaults (base 2 s, max 600 s) the delay after
/// attempt n is 2·2^(n-1) s, jittered by ±20%: about 2 s, 4 s, 8 s, 16 s, 32 s, 64 s, 128 s,
/// 256 s, 512 s, then 600 s for every later attempt. Jitter spreads the retries of a batch
/// that failed together (a provider outage) so that they do not return together.
/// </summary>
public sealed class RetryBackoff(double baseSeconds, double maxSeconds, Random? random = null)
{
    public const double Jitter = 0.2;
    readonly Random _random = random ?? Random.Shared;

    public static RetryBackoff From(WorkerOptions o) => new(o.RetryBaseSeconds, o.RetryMaxSeconds);

    /// <param name="attempt">The attempt that just failed, from 1.</param>
    public TimeSpan After(int attempt)
    {
        var exponent = Math.Min(Math.Max(attempt, 1) - 1, 30);
        var seconds = Math.Min(baseSeconds * Math.Pow(2, exponent), maxSeconds);
        var jittered = seconds * (1 + Jitter * (2 * _random.NextDouble() - 1));
        return TimeSpan.FromSeconds(Math.Min(jittered, maxSeconds));
    }
}
