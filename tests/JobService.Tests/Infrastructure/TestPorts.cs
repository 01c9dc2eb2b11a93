using System.Net;
using System.Net.Sockets;

namespace JobService.Tests.Infrastructure;

/// <summary>
/// A loopback port for a child process (the service's binary, a PostgreSQL cluster) to listen on.
/// A port from a bind to 0 comes from the kernel's ephemeral range, and once closed again the
/// kernel may give it to any outgoing connection as its source port before the child binds it (the
/// tests open thousands): the child then failed its start, "address already in use". Ports taken
/// below that range are never given out so; a counter keeps this process's picks apart, and a bind
/// shows that nothing else listens there now.
/// </summary>
public static class TestPorts
{
    const int Span = 10000;
    static readonly int EphemeralFirst = ReadEphemeralFirst();
    static int _next = Random.Shared.Next(Span); // two test runs at once start far apart

    public static int Free()
    {
        if (EphemeralFirst - Span < 1024) return Ephemeral(); // a range that starts low leaves no room below it
        for (var tried = 0; tried < Span; tried++)
        {
            var port = EphemeralFirst - Span + (int)((uint)Interlocked.Increment(ref _next) % Span);
            using var listener = new TcpListener(IPAddress.Loopback, port);
            try
            {
                listener.Start();
                return port;
            }
            catch (SocketException) { } // another process listens there
        }
        throw new InvalidOperationException($"No free loopback port below {EphemeralFirst}");
    }

    static int Ephemeral()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    /// <summary>The first port of the kernel's ephemeral range (Linux's default, 32768, where it cannot be read).</summary>
    static int ReadEphemeralFirst()
    {
        try { return int.Parse(File.ReadAllText("/proc/sys/net/ipv4/ip_local_port_range").Split('\t', ' ')[0]); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or FormatException) { return 32768; }
    }
}
