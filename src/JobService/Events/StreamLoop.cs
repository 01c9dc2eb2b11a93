using JobService.Data;

namespace JobService.Events;

/// <summary>
/// An open event stream's steps (read, send, wait for a poke), run until one says the stream
/// ends or its time is up, through database outages. While the database is away the stream stays
/// open: its headers are sent, so it cannot answer 503, and ending it would send the browser's
/// EventSource to a reconnect that meets a 503 and gives up for good. The instance's streams say
/// one warning line per outage together (<see cref="StreamOutage"/>), each pings as usual, and reads again when poked (the notification listener is back, so is
/// the database) or at the poll fallback; its cursor has not moved, so nothing is skipped or sent twice.
/// </summary>
static class StreamLoop
{
    /// <param name="step">One read-send-wait; true when the stream ends.</param>
    public static async Task RunAsync(HttpContext http, Func<Task<bool>> step, EventHub.Watch watch, SseWriter sse, DateTime ends,
        EventsOptions o, CancellationToken ct)
    {
        if (Api.HeadAsGet.Asked(http)) return; // its headers are the whole answer: a stream held open would hold the connection
        var outage = http.RequestServices.GetRequiredService<StreamOutage>();
        var away = false;
        try
        {
            while (DateTime.UtcNow < ends)
            {
                try
                {
                    var ended = await step();
                    if (away) outage.Done(read: true);
                    away = false;
                    if (ended) return;
                }
                catch (Exception e) when (DatabaseErrors.IsUnavailable(e) && !ct.IsCancellationRequested)
                {
                    if (!away) outage.Waits(http.Request.Path.Value ?? "", e);
                    away = true;
                    await watch.WaitAsync(Until(ends, sse, o), ct);
                    await sse.PingIfQuietAsync(o.HeartbeatSeconds);
                }
            }
        }
        finally
        {
            if (away) outage.Done(read: false); // ended while it waited: its client left, or its time is up
        }
    }

    /// <summary>
    /// What a stream runs under: its client going away, or this instance stopping. Held open
    /// through a stop, a stream held the web server's shutdown (it waits for every request) for the
    /// host's whole timeout, and the workers' hand-back with it: SIGTERM then spent an attempt of
    /// every running job. Ended, EventSource reconnects, to another instance or to this one once back.
    /// </summary>
    public static CancellationTokenSource Lifetime(HttpContext http) => CancellationTokenSource.CreateLinkedTokenSource(
        http.RequestAborted, http.RequestServices.GetRequiredService<IHostApplicationLifetime>().ApplicationStopping);

    /// <summary>How long to wait for a poke: until the poll fallback, the next ping or the stream's end, whichever comes first.</summary>
    internal static TimeSpan Until(DateTime ends, SseWriter sse, EventsOptions o)
    {
        var now = DateTime.UtcNow;
        var ping = sse.PingDue(o.HeartbeatSeconds) - now;
        var wait = new[] { TimeSpan.FromSeconds(o.PollFallbackSeconds), ping, ends - now }.Min();
        return wait < TimeSpan.Zero ? TimeSpan.Zero : wait;
    }
}
