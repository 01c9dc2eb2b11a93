using System.Diagnostics;
using System.Net;
using System.Net.Http.Headers;
using System.Net.Sockets;
using System.Text;
using Microsoft.Extensions.Options;

namespace JobService.Webhooks;

/// <summary>Resolves a callback's host name (DNS; a test gives its own names).</summary>
public interface IHostResolver
{
    Task<IPAddress[]> ResolveAsync(string host, CancellationToken ct);
}

public sealed class DnsResolver : IHostResolver
{
    public Task<IPAddress[]> ResolveAsync(string host, CancellationToken ct) => Dns.GetHostAddressesAsync(host, ct);
}

/// <summary>A callback whose host is, or resolves to, an address it must never reach (or is not in Webhooks:AllowedHosts).</summary>
public sealed class BlockedAddressException(string why) : Exception(why);

/// <summary>
/// Sends one attempt of a delivery, signed. The connection is the security boundary: the host is
/// resolved here, refused if any address it resolves to is internal (unless
/// Webhooks:AllowPrivateNetworks), and the socket connects to an address it checked, so a DNS
/// answer that changes between check and connect (rebinding) gets nowhere. No redirects, no
/// proxy; at most 4 KB of the answer is read and 1 KB kept.
/// </summary>
public sealed class WebhookSender(IHttpClientFactory clients, WebhookSecrets secrets, IOptions<WebhooksOptions> options)
{
    public const string ClientName = "webhooks";
    const int ReadBytes = 4096, KeptChars = 1024;
    static readonly string UserAgent = $"JobService-Webhooks/{typeof(WebhookSender).Assembly.GetName().Version?.ToString(3) ?? "1.0.0"}";

    public async Task<(int? Status, string? Error, string? Body, TimeSpan? RetryAfter, bool Blocked, int DurationMs)> SendAsync(
        DueDelivery delivery, CancellationToken ct)
    {
        var body = Encoding.UTF8.GetBytes(delivery.Body);
        // The wall clock, not the job clock: a receiver checks the timestamp against its own.
        var timestamp = DateTimeOffset.UtcNow.ToUnixTimeSeconds();
        var id = delivery.Id.ToString();
        using var request = new HttpRequestMessage(HttpMethod.Post, delivery.Url) { Content = new ByteArrayContent(body) };
        request.Content.Headers.ContentType = new MediaTypeHeaderValue("application/json") { CharSet = "utf-8" };
        request.Headers.TryAddWithoutValidation("webhook-id", id);
        request.Headers.TryAddWithoutValidation("webhook-timestamp", timestamp.ToString());
        request.Headers.TryAddWithoutValidation("webhook-signature",
            WebhookSecrets.Signature(await secrets.SigningAsync(delivery.TenantId, ct), id, timestamp, body));
        request.Headers.TryAddWithoutValidation("User-Agent", UserAgent);

        var clock = Stopwatch.StartNew();
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct);
        timeout.CancelAfter(TimeSpan.FromSeconds(options.Value.TimeoutSeconds));
        try
        {
            using var response = await clients.CreateClient(ClientName).SendAsync(request, HttpCompletionOption.ResponseHeadersRead, timeout.Token);
            var text = await ReadSomeAsync(response, timeout.Token);
            var retryAfter = response.Headers.RetryAfter is { } ra ? ra.Delta ?? (ra.Date - DateTimeOffset.UtcNow) : null;
            return ((int)response.StatusCode, null, text, retryAfter, false, (int)clock.ElapsedMilliseconds);
        }
        catch (HttpRequestException e) when (e.InnerException is BlockedAddressException blocked)
        {
            return (null, blocked.Message, null, null, true, (int)clock.ElapsedMilliseconds);
        }
        catch (OperationCanceledException) when (!ct.IsCancellationRequested)
        {
            return (null, $"No answer within {options.Value.TimeoutSeconds} s (Webhooks:TimeoutSeconds)", null, null, false, (int)clock.ElapsedMilliseconds);
        }
        catch (HttpRequestException e)
        {
            return (null, (e.InnerException?.Message ?? e.Message).Clip(500), null, null, false, (int)clock.ElapsedMilliseconds);
        }
    }

    static async Task<string?> ReadSomeAsync(HttpResponseMessage response, CancellationToken ct)
    {
        await using var stream = await response.Content.ReadAsStreamAsync(ct);
        var buffer = new byte[ReadBytes];
        var read = 0;
        try
        {
            while (read < buffer.Length && await stream.ReadAsync(buffer.AsMemory(read), ct) is var n and > 0) read += n;
        }
        // The answer's status is what counts: a body cut off, or stalled past the timeout, is kept as far as it came.
        catch (Exception e) when (e is IOException or OperationCanceledException) { }
        return read == 0 ? null : Encoding.UTF8.GetString(buffer, 0, read).Clip(KeptChars);
    }

    /// <summary>The handler behind the webhooks client: the guarded connect, no redirects, no proxy.</summary>
    public static SocketsHttpHandler Handler(IHostResolver resolver, WebhooksOptions options) => new()
    {
        AllowAutoRedirect = false,
        UseProxy = false,
        UseCookies = false,
        ConnectTimeout = TimeSpan.FromSeconds(options.ConnectTimeoutSeconds),
        PooledConnectionLifetime = TimeSpan.FromMinutes(1), // a host's addresses are checked again at least this often
        ConnectCallback = (context, ct) => ConnectAsync(context.DnsEndPoint, resolver, options, ct),
    };

    static async ValueTask<Stream> ConnectAsync(DnsEndPoint endpoint, IHostResolver resolver, WebhooksOptions options, CancellationToken ct)
    {
        var host = endpoint.Host.Trim('[', ']');
        if (!CallbackUrls.HostAllowed(host, options)) throw new BlockedAddressException($"{host} is not in Webhooks:AllowedHosts");
        var addresses = IPAddress.TryParse(host, out var literal) ? [literal] : await resolver.ResolveAsync(host, ct);
        if (!options.AllowPrivateNetworks)
        {
            if (BlockedNetworks.IsLocalName(host)) throw new BlockedAddressException($"{host} names this machine");
            if (addresses.FirstOrDefault(BlockedNetworks.IsBlocked) is { } blocked)
                throw new BlockedAddressException($"{host} resolves to {blocked}, an internal address (Webhooks:AllowPrivateNetworks is off)");
        }
        if (addresses.Length == 0) throw new SocketException((int)SocketError.HostNotFound);
        SocketException? last = null;
        foreach (var address in addresses)
        {
            var socket = new Socket(address.AddressFamily, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
            try
            {
                await socket.ConnectAsync(address, endpoint.Port, ct); // the address checked above: no second lookup
                return new NetworkStream(socket, ownsSocket: true);
            }
            catch (SocketException e)
            {
                socket.Dispose();
                last = e;
            }
        }
        throw last!;
    }
}
