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

    const int MaxSequence = 0xFFF; // rand_a's 12 bits

    [ThreadStatic] static byte[]? t_random;
    [ThreadStatic] static int t_used;
    static readonly Lock s_clock = new();
    static long s_ms;
    static int s_sequence;

    /// <summary>
    /// A new version-7 id (RFC 9562: the time in Unix milliseconds, a 12-bit sequence, 62 random
    /// bits), each one greater than the last this process made: jobs made in one millisecond (a
    /// batch's, whose created_at is one) are claimed and listed in the order they were made, since
    /// id breaks those ties. The sequence is RFC 9562's counter in rand_a, from 0 each millisecond;
    /// past 4,095 in one, the time moves a millisecond ahead. The random bits come from a
    /// per-thread buffer of the operating system's secure random bytes, refilled 4 KiB at a time:
    /// <see cref="Guid.CreateVersion7()"/> asks the kernel for every id (a getrandom call each on
    /// Linux), a tenth of the CPU of a 1,000-job POST /jobs/batch (docs/benchmarks.md), and its ids
    /// within a millisecond fall in random order.
    /// </summary>
    public static Guid New()
    {
        if (t_random is null) (t_random, t_used) = (new byte[RandomBatch], RandomBatch);
        if (t_used == RandomBatch) { RandomNumberGenerator.Fill(t_random); t_used = 0; }
        Span<byte> bytes = stackalloc byte[16];
        t_random.AsSpan(t_used, 16).CopyTo(bytes);
        t_used += 16;
        long ms;
        int sequence;
        lock (s_clock)
        {
            var now = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
            if (now > s_ms) (s_ms, s_sequence) = (now, 0);
            else if (++s_sequence > MaxSequence) (s_ms, s_sequence) = (s_ms + 1, 0); // also a clock set back: never lower than the last
            (ms, sequence) = (s_ms, s_sequence);
        }
        for (var i = 5; i >= 0; i--, ms >>= 8) bytes[i] = (byte)ms;
        bytes[6] = (byte)(0x70 | (sequence >> 8)); // version 7, then the sequence's high 4 bits
        bytes[7] = (byte)sequence;
        bytes[8] = (byte)(0x80 | (bytes[8] & 0x3F)); // variant 10xx
        return new Guid(bytes, bigEndian: true);
    }
}
