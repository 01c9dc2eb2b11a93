using JobService.Data;

namespace JobService.Events;

/// <summary>
/// How this instance's open event streams tell a database outage: one warning when the first of
/// them meets it, and one line when the last of those waiting reads again, with how many waited.
/// Each stream told its own (a warning and a line per stream and outage: 400 lines for an
/// instance serving 200 streams through a one-second blip).
/// </summary>
public sealed class StreamOutage(ILogger<StreamOutage> log)
{
    readonly Lock _gate = new();
    int _waiting; // streams now waiting for the database
    int _wentOn;  // streams of this outage that read again

    /// <summary>A stream's read met the outage (once per stream and outage).</summary>
    public void Waits(string path, Exception e)
    {
        lock (_gate)
        {
            if (_waiting++ == 0)
                log.LogWarning("Event streams: the database is away ({Error}, first met by {Path}); open streams stay open and read again when it is back",
                    DatabaseErrors.OneLine(e), path);
        }
    }

    /// <summary>A waiting stream read again (<paramref name="read"/>), or ended while it waited (its client left, its time was up).</summary>
    public void Done(bool read)
    {
        lock (_gate)
        {
            if (read) _wentOn++;
            if (--_waiting > 0) return;
            if (_wentOn > 0) log.LogInformation("Event streams: the database is back; {Streams} streams that waited went on", _wentOn);
            _wentOn = 0;
        }
    }
}
