using System.Net;

namespace JobService.Webhooks;

/// <summary>What a <c>callback_url</c> must be at submit; the connect-time check is the real boundary (DNS can point anywhere).</summary>
public static class CallbackUrls
{
    public const int MaxLength = 2000;

    /// <summary>Null when acceptable, else why not, in the client's terms.</summary>
    public static string? Problem(string url, WebhooksOptions options)
    {
        // Uri takes a NUL or a control character where the database (PostgreSQL's text) and an HTTP request line cannot.
        if (url.Length > MaxLength || url.Any(char.IsControl) || !Uri.TryCreate(url, UriKind.Absolute, out var uri) || (uri.Scheme != "http" && uri.Scheme != "https"))
            return $"callback_url must be an absolute {(options.AllowHttp ? "http(s)" : "https")} URL of at most {MaxLength} characters, without control characters.";
        if (uri.Scheme == "http" && !options.AllowHttp)
            return "callback_url must be https (Webhooks:AllowHttp is off).";
        if (!string.IsNullOrEmpty(uri.UserInfo))
            return "callback_url must not carry a user name or password.";
        if (uri.Port is not (80 or 443) && !options.AllowedPorts.Contains(uri.Port))
            return $"callback_url may use port 80 or 443{(options.AllowedPorts.Count > 0 ? $" or {string.Join(", ", options.AllowedPorts)}" : "")}, not {uri.Port} (Webhooks:AllowedPorts).";
        if (!HostAllowed(uri.IdnHost, options))
            return $"callback_url's host {uri.IdnHost.Clip(100)} is not in Webhooks:AllowedHosts.";
        if (options.AllowPrivateNetworks) return null;
        // Uri has already read numeric and shorthand forms (2130706433, 0x7f.1, 127.1) as the address they are.
        if (uri.HostNameType is UriHostNameType.IPv4 or UriHostNameType.IPv6 && IPAddress.TryParse(uri.IdnHost.Trim('[', ']'), out var ip)
            && BlockedNetworks.IsBlocked(ip))
            return $"callback_url points at {ip}, an internal address (loopback, private, link-local, multicast or reserved); " +
                   "set Webhooks:AllowPrivateNetworks=true to allow that on a LAN.";
        if (BlockedNetworks.IsLocalName(uri.IdnHost))
            return "callback_url points at localhost; set Webhooks:AllowPrivateNetworks=true to allow that.";
        return null;
    }

    /// <summary>
    /// Where a callback goes, as Webhooks:ConcurrencyPerReceiver counts it: its scheme, host and
    /// port (<c>https://api.example.com</c>, <c>http://10.0.0.5:8080</c>); a URL taken at submit always has them.
    /// </summary>
    public static string Receiver(string url) =>
        Uri.TryCreate(url, UriKind.Absolute, out var uri) ? uri.GetLeftPart(UriPartial.Authority).ToLowerInvariant() : url;

    /// <summary>Webhooks:AllowedHosts, when set: the exact host, or a subdomain of an entry written ".example.com".</summary>
    public static bool HostAllowed(string host, WebhooksOptions options)
    {
        if (options.AllowedHosts.Count == 0) return true;
        var h = host.TrimEnd('.').ToLowerInvariant();
        return options.AllowedHosts.Any(a => a.StartsWith('.') ? h.EndsWith(a.ToLowerInvariant(), StringComparison.Ordinal) : h == a.ToLowerInvariant());
    }
}
