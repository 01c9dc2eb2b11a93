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

    public bool RunsApi => Role is "all" or "api";
    public bool RunsWorkers => Role is "all" or "worker";

    /// <summary><see cref="TrustedProxies"/> as networks (a single address is a network of one).</summary>
    public IEnumerable<IPNetwork> TrustedProxyNetworks() => TrustedProxies.Select(p => ParseProxy(p.Trim())!.Value);

    static IPNetwork? ParseProxy(string? text) =>
        IPNetwork.TryParse(text, out var network) ? network
        : IPAddress.TryParse(text, out var address) ? new IPNetwork(address, address.GetAddressBytes().Length * 8)
        : null;

    public IEnumerable<ValidationResult> Validate(ValidationContext context) =>
        TrustedProxies.Where(p => ParseProxy(p?.Trim()) is null).Take(1).Select(p => new ValidationResult(
            $"Service:TrustedProxies holds '{p?.Clip(60)}', which is neither an IP address nor a network such as 10.0.0.0/8."));
}
