using System.Net;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;

namespace JobService.Hosting;

/// <summary>Where the service listens, as far as "open to this machine only" is concerned.</summary>
public static class ListenAddresses
{
    /// <summary>The addresses beyond loopback the server listens on (0.0.0.0, +, * and real interfaces); none in-process.</summary>
    public static List<string> Exposed(IServer server) =>
        server.Features.Get<IServerAddressesFeature>()?.Addresses.Where(a => !IsLoopback(a)).ToList() ?? [];

    static bool IsLoopback(string address)
    {
        if (!Uri.TryCreate(address.Replace("://+", "://0.0.0.0").Replace("://*", "://0.0.0.0"), UriKind.Absolute, out var uri)) return false;
        return uri.IsLoopback || (IPAddress.TryParse(uri.Host.Trim('[', ']'), out var ip) && IPAddress.IsLoopback(ip));
    }
}
