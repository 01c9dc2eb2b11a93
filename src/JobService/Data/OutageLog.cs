namespace JobService.Data;

/// <summary>
/// How a loop that tries every second tells that the database is away: the first failure, then
/// one line a minute with how many tries failed since, and one line when it works again. An
/// outage was a line a second from every loop (and one per running job's progress flush), a
/// thousand lines in 17 s from one worker.
/// </summary>
public sealed class OutageLog(ILogger log, string what)
{
    static readonly TimeSpan Quiet = TimeSpan.FromMinutes(1);
    readonly Lock _gate = new();
    long _toldAt; // Environment.TickCount64 of the last line; 0: working
    int _since;

    public void Failed(Exception e)
    {
        lock (_gate)
        {
            var now = Environment.TickCount64;
            if (_toldAt != 0 && now - _toldAt < Quiet.TotalMilliseconds)
            {
                _since++;
                return;
            }
            if (_since == 0) log.LogWarning("{What} failed: {Error}", what, DatabaseErrors.OneLine(e));
            else log.LogWarning("{What} failed: {Error} ({Tries} more tries failed in the last minute)", what, DatabaseErrors.OneLine(e), _since);
            (_toldAt, _since) = (now, 0);
        }
    }

    public void Succeeded()
    {
        if (Volatile.Read(ref _toldAt) == 0) return; // the usual case: nothing to lock
        lock (_gate)
        {
            if (_toldAt == 0) return;
            log.LogInformation("{What} works again", what);
            (_toldAt, _since) = (0, 0);
        }
    }
}
