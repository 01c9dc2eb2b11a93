namespace JobService.Auth;

/// <summary>
/// Whether the caller of a long request is still who it was when it began: its key not revoked,
/// expired or rotated since, its dashboard session not signed out. The authentication handler sets
/// it on the request; an event stream, which may stay open for an hour, asks it as it goes and
/// ends when the answer is no (the browser's reconnect then meets the 401). Asked at most once a
/// second; the key's own cache bounds how soon a change elsewhere is seen.
/// </summary>
public sealed class CallerCheck(Func<CancellationToken, Task<bool>> check)
{
    long _nextAt;
    bool _valid = true;

    public async ValueTask<bool> StillValidAsync(CancellationToken ct)
    {
        if (!_valid || Environment.TickCount64 < _nextAt) return _valid;
        _nextAt = Environment.TickCount64 + 1_000;
        return _valid = await check(ct);
    }

    /// <summary>True with auth off, or for a request authenticated by no one who can change.</summary>
    public static ValueTask<bool> StillValidAsync(HttpContext http) =>
        http.Features.Get<CallerCheck>() is { } check ? check.StillValidAsync(http.RequestAborted) : ValueTask.FromResult(true);
}
