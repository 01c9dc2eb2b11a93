using System.ComponentModel.DataAnnotations;
using System.Net;

namespace JobService.Hosting;

/// <summary>The <c>Service</c> section: which parts this instance runs, and which proxies it believes.</summary>
public sealed class ServiceOptions : IValidatableObject
{
    public const string Section = "Service";

    /// <summary>
    /// <c>all</c> (API and workers, the default), <c>api</c> (HTTP only), or <c>worker</c>
    /// (workers, with only the health endpoints on HTTP). On PostgreSQL, scale each apart.
    /// </summary>
    [RegularExpression("^(all|api|worker)$", ErrorMessage = "Service:Role must be 'all', 'api' or 'worker'.")]
    public string Role { get; set; } = "all";

    /// <summary>
    /// The reverse proxies (addresses, or networks as <c>10.0.0.0/8</c>) whose <c>X-Forwarded-For</c>
    /// and <c>X-Forwarded-Proto</c> the service believes: a request from one of them is taken as
    /// from the client and scheme they name (docs/security.md, "Behind a proxy"). Empty: none.
    /// </summary>
    public List<string> TrustedProxies { get; set; } = [];

    /// <summary>
    /// Where each process keeps the runtime's record of the methods it compiled in its first minute,
    /// which the next start of the same role compiles ahead on another core (<see cref="StartupJitProfile"/>);
    /// relative to the binary's folder. It must be writable (the Docker image points it into its data
    /// volume); empty keeps none.
    /// </summary>
    public string JitProfileDirectory { get; set; } = "jit-profiles";

    public bool RunsApi => Role is "all" or "api";
    public bool RunsWorkers => Role is "all" or "worker";

    /// <summary><c>Service__TrustedProxies=10.0.0.0/8,10.1.2.3</c> is that list (<see cref="ConfigLists"/>).</summary>
    public static void ReadLists(ServiceOptions options, IConfiguration configuration)
    {
        if (ConfigLists.OneValue(configuration, $"{Section}:TrustedProxies") is { } proxies) options.TrustedProxies = [.. proxies];
    }

    /// <summary><see cref="TrustedProxies"/> as networks (a single address is a network of one).</summary>
    public IEnumerable<IPNetwork> TrustedProxyNetworks() => TrustedProxies.Select(p => ParseProxy(p.Trim())!.Value);

    /// <summary>
    /// An address, or a network's address and a prefix length from 1 up, written out in full: no
    /// shorthand such as <c>10/8</c> or <c>10</c> (which the parser reads as 0.0.0.0/8 and
    /// 0.0.0.10), and no octet with a leading zero (read as octal).
    /// </summary>
    static IPNetwork? ParseProxy(string? text)
    {
        if (text?.Split('/') is not { Length: 1 or 2 } parts || !IsWrittenOut(parts[0]) || !IPAddress.TryParse(parts[0], out var ip)) return null;
        if (!text.Contains('/')) return new IPNetwork(ip, ip.GetAddressBytes().Length * 8);
        return IPNetwork.TryParse(text, out var network) && network.PrefixLength > 0 && HostBitsClear(ip, network.PrefixLength) ? network : null;
    }

    /// <summary>Whether the address has no bit set past the prefix: 10.1.0.0/8 may mean 10.0.0.0/8 or 10.1.0.0/16, so it is neither.</summary>
    static bool HostBitsClear(IPAddress ip, int prefix)
    {
        var bytes = ip.GetAddressBytes();
        for (var bit = prefix; bit < bytes.Length * 8; bit++)
            if ((bytes[bit / 8] & (0x80 >> (bit % 8))) != 0) return false;
        return true;
    }

    static bool IsWrittenOut(string address) => address.Contains(':')
        || address.Split('.') is { Length: 4 } octets && octets.All(o => o is [>= '0' and <= '9'] || o.Length is 2 or 3 && o[0] != '0' && o.All(char.IsAsciiDigit));

    public IEnumerable<ValidationResult> Validate(ValidationContext context) =>
        TrustedProxies.Where(p => ParseProxy(p?.Trim()) is null).Take(1).Select(p => new ValidationResult(
            $"Service:TrustedProxies holds '{p?.Clip(60)}', which is neither an IP address nor a network written out in full, " +
            "such as 10.0.0.0/8 or fd00::/8: no shorthand (10/8), no leading zeros (012.0.0.1), no bits past the prefix (10.1.0.0/8), " +
            "and no /0 (every sender: that is what ASPNETCORE_FORWARDEDHEADERS_ENABLED does)."));
}
