namespace JobService.Webhooks;

/// <summary>The <c>Webhooks</c> section: where completion callbacks may go.</summary>
public sealed class WebhooksOptions
{
    public const string Section = "Webhooks";

    /// <summary>
    /// Lets a <c>callback_url</c> point at loopback, private, link-local and other internal
    /// addresses: for tests and for a service that calls back into its own LAN. Off by default:
    /// a client must not be able to aim the service at the machine or its cloud's metadata service.
    /// </summary>
    public bool AllowPrivateNetworks { get; set; }
}
