using System.Net;
using System.Net.Sockets;

namespace JobService.Tests.Infrastructure;

/// <summary>
/// A loopback port where connections are refused, held for as long as the test needs it: a socket
/// bound and never listening. A port merely closed again could be taken by another test's server
/// meanwhile (it was: a service process's Kestrel answered the "unreachable database" with HTTP).
/// </summary>
public sealed class RefusingPort : IDisposable
{
    readonly Socket _socket = new(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);

    public RefusingPort() => _socket.Bind(new IPEndPoint(IPAddress.Loopback, 0));

    public int Port => ((IPEndPoint)_socket.LocalEndPoint!).Port;

    public void Dispose() => _socket.Dispose();
}
