namespace JobService.Tests.Infrastructure;

public static class Signals
{
    /// <summary>
    /// True when <paramref name="signal"/> completes within <paramref name="left"/>; false once that
    /// deadline passes (a failing test's bound, not a wait for time to pass).
    /// </summary>
    public static async Task<bool> ArrivesWithinAsync(this Task signal, TimeSpan left)
    {
        if (left <= TimeSpan.Zero) return signal.IsCompleted;
        try
        {
            await signal.WaitAsync(left);
            return true;
        }
        catch (TimeoutException)
        {
            return false;
        }
    }
}
