using System.Security.Cryptography;

namespace JobService.Observability;

/// <summary>
/// A job id is a UUID version 7 made at submit (<see cref="New"/>, from the system clock, which is
/// the service's clock for created_at outside tests):
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

    const int RandomBatch = 4096; // the random bits of 256 ids

    [ThreadStatic] static byte[]? t_random;
    [ThreadStatic] static int t_used;

    /// <summary>
    /// A new version-7 id, as <see cref="Guid.CreateVersion7()"/> makes it (RFC 9562: the time in
    /// Unix milliseconds, then 74 random bits), with its random bits taken from a per-thread buffer
    /// of the operating system's secure random bytes, refilled 4 KiB at a time.
    /// <see cref="Guid.CreateVersion7()"/> asks the kernel for every id (a getrandom call each on
    /// Linux): a tenth of the CPU of a 1,000-job POST /jobs/batch (docs/benchmarks.md).
    /// </summary>
    public static Guid New()
    {
        if (t_random is null) (t_random, t_used) = (new byte[RandomBatch], RandomBatch);
        if (t_used == RandomBatch) { RandomNumberGenerator.Fill(t_random); t_used = 0; }
        Span<byte> bytes = stackalloc byte[16];
        t_random.AsSpan(t_used, 16).CopyTo(bytes);
        t_used += 16;
        var ms = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
        for (var i = 5; i >= 0; i--, ms >>= 8) bytes[i] = (byte)ms;
        bytes[6] = (byte)(0x70 | (bytes[6] & 0x0F)); // version 7
        bytes[8] = (byte)(0x80 | (bytes[8] & 0x3F)); // variant 10xx
        return new Guid(bytes, bigEndian: true);
    }
}
