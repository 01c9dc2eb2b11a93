using System.Net;
using System.Net.Sockets;

namespace JobService.Webhooks;

/// <summary>
/// Addresses a callback must never reach unless <c>Webhooks:AllowPrivateNetworks</c> says so:
/// this machine, private and link-local networks (the cloud metadata service at 169.254.169.254),
/// carrier-grade NAT, multicast, reserved and documentation ranges. IPv4 written inside IPv6
/// (mapped, compatible, 6to4, Teredo) is judged as the IPv4 address it carries; NAT64 is refused
/// whole. One list, used at
/// submit (IP literals, <c>localhost</c>) and when connecting (every resolved address).
/// </summary>
public static class BlockedNetworks
{
    static readonly (IPAddress Network, int Bits)[] Ranges =
    [
        (IPAddress.Parse("0.0.0.0"), 8), (IPAddress.Parse("10.0.0.0"), 8), (IPAddress.Parse("100.64.0.0"), 10),
        (IPAddress.Parse("127.0.0.0"), 8), (IPAddress.Parse("169.254.0.0"), 16), (IPAddress.Parse("172.16.0.0"), 12),
        (IPAddress.Parse("192.0.0.0"), 24), (IPAddress.Parse("192.0.2.0"), 24), (IPAddress.Parse("192.168.0.0"), 16),
        (IPAddress.Parse("198.18.0.0"), 15), (IPAddress.Parse("198.51.100.0"), 24), (IPAddress.Parse("203.0.113.0"), 24),
        (IPAddress.Parse("224.0.0.0"), 4), (IPAddress.Parse("240.0.0.0"), 4),
        (IPAddress.Parse("::"), 128), (IPAddress.Parse("::1"), 128), (IPAddress.Parse("fc00::"), 7), (IPAddress.Parse("fe80::"), 10),
        (IPAddress.Parse("ff00::"), 8), (IPAddress.Parse("2001:db8::"), 32), (IPAddress.Parse("64:ff9b::"), 96),
    ];

    public static bool IsBlocked(IPAddress address)
    {
        if (address.AddressFamily == AddressFamily.InterNetworkV6)
        {
            if (address.IsIPv4MappedToIPv6) return IsBlocked(address.MapToIPv4());
            var bytes = address.GetAddressBytes();
            // ::a.b.c.d (IPv4-compatible, deprecated but still routed by some stacks), other than :: and ::1
            if (bytes.AsSpan(0, 12).IndexOfAnyExcept((byte)0) < 0 && !(bytes[12] == 0 && bytes[13] == 0 && bytes[14] == 0 && bytes[15] <= 1))
                return IsBlocked(new IPAddress(bytes.AsSpan(12, 4)));
            // 6to4 (2002:a.b.c.d::/48): a relay sends it to a.b.c.d.
            if (bytes[0] == 0x20 && bytes[1] == 0x02) return IsBlocked(new IPAddress(bytes.AsSpan(2, 4)));
            // Teredo (2001:0:server::client): the server's IPv4, and the client's, stored inverted, both reached.
            if (bytes[0] == 0x20 && bytes[1] == 0x01 && bytes[2] == 0 && bytes[3] == 0)
            {
                Span<byte> client = stackalloc byte[4];
                for (var i = 0; i < 4; i++) client[i] = (byte)~bytes[12 + i];
                return IsBlocked(new IPAddress(bytes.AsSpan(4, 4))) || IsBlocked(new IPAddress(client));
            }
        }
        return Ranges.Any(r => r.Network.AddressFamily == address.AddressFamily && InRange(address, r.Network, r.Bits));
    }

    /// <summary>localhost and *.localhost name this machine whatever DNS says (RFC 6761).</summary>
    public static bool IsLocalName(string host)
    {
        var h = host.TrimEnd('.').ToLowerInvariant();
        return h == "localhost" || h.EndsWith(".localhost", StringComparison.Ordinal);
    }

    static bool InRange(IPAddress address, IPAddress network, int bits)
    {
        var a = address.GetAddressBytes();
        var n = network.GetAddressBytes();
        for (var i = 0; i < a.Length && bits > 0; i++, bits -= 8)
        {
            var mask = bits >= 8 ? 0xFF : (byte)(0xFF << (8 - bits));
            if ((a[i] & mask) != (n[i] & mask)) return false;
        }
        return true;
    }
}
