namespace JobService.Observability;

/// <summary>
/// A job id is a UUID version 7 made at submit (Guid.CreateVersion7, the same clock as created_at):
/// its first 48 bits are the creation time in Unix milliseconds. The transition hook reads a job's
/// age from there instead of querying created_at on the hot path (claims and completions return only
/// the columns their events need).
/// </summary>
public static class JobIds
{
    /// <summary>The creation time a version-7 id carries (millisecond precision), or null for any other id.</summary>
    public static DateTime? CreatedAt(Guid id)
    {
        Span<byte> bytes = stackalloc byte[16];
        id.TryWriteBytes(bytes, bigEndian: true, out _);
        if (bytes[6] >> 4 != 7) return null;
        long ms = 0;
        for (var i = 0; i < 6; i++) ms = (ms << 8) | bytes[i];
        return DateTime.UnixEpoch.AddMilliseconds(ms);
    }
}
