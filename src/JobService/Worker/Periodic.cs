namespace JobService.Worker;

/// <summary>The background loops' shared shape: work, then wait, on the injected clock, until stopped.</summary>
public static class Periodic
{
    /// <summary>
    /// Runs <paramref name="work"/> every <paramref name="interval"/> (first at once, or after one
    /// interval); a failed round is logged (the database away: as <see cref="Data.OutageLog"/> tells it) and the next one goes ahead. Ends quietly when stopped.
    /// </summary>
    public static async Task RunAsync(string what, TimeSpan interval, bool startAtOnce, Func<CancellationToken, Task> work,
        TimeProvider time, ILogger log, CancellationToken ct)
    {
        var outage = new Data.OutageLog(log, what);
        for (var wait = !startAtOnce; !ct.IsCancellationRequested; wait = true)
        {
            if (wait)
            {
                try { await Task.Delay(interval, time, ct); }
                catch (OperationCanceledException) { return; }
            }
            try
            {
                await work(ct);
                outage.Succeeded();
            }
            catch (OperationCanceledException) when (ct.IsCancellationRequested)
            {
                return;
            }
            catch (Exception e) when (Data.DatabaseErrors.IsUnavailable(e))
            {
                outage.Failed(e);
            }
            catch (Exception e)
            {
                log.LogWarning(e, "{Work} failed; next try in {Interval}", what, interval);
            }
        }
    }
}
