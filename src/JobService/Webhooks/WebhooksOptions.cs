using System.ComponentModel.DataAnnotations;

namespace JobService.Webhooks;

/// <summary>The <c>Webhooks</c> section: where completion callbacks may go, and how they are sent (docs/webhooks.md).</summary>
public sealed class WebhooksOptions
{
    public const string Section = "Webhooks";

    /// <summary>
    /// Lets a <c>callback_url</c> point at loopback, private, link-local and other internal
    /// addresses: for tests and for a service that calls back into its own LAN. Off by default:
    /// a client must not be able to aim the service at the machine or its cloud's metadata service.
    /// </summary>
    public bool AllowPrivateNetworks { get; set; }

    /// <summary>Plain http callbacks. True for now (local receivers, tests); turn it off in production so bodies travel encrypted.</summary>
    public bool AllowHttp { get; set; } = true;

    /// <summary>Ports a callback may use besides 80 and 443.</summary>
    public List<int> AllowedPorts { get; set; } = [];

    /// <summary>Optional allow-list of host names (exact, or ".example.com" for its subdomains); empty: any host outside the blocked ranges.</summary>
    public List<string> AllowedHosts { get; set; } = [];

    /// <summary>Either list as one comma-separated value (<see cref="Hosting.ConfigLists"/>).</summary>
    public static void ReadLists(WebhooksOptions options, IConfiguration configuration)
    {
        if (Hosting.ConfigLists.OneValueOfNumbers<WebhooksOptions>(configuration, $"{Section}:AllowedPorts") is { } ports) options.AllowedPorts = ports;
        if (Hosting.ConfigLists.OneValue(configuration, $"{Section}:AllowedHosts") is { } hosts) options.AllowedHosts = [.. hosts];
    }

    /// <summary>Sends the job's payload in the body too (off: a payload may be large or private, and the receiver sent it).</summary>
    public bool IncludePayload { get; set; }

    /// <summary>A result larger than this (UTF-8 bytes) is sent as null with result_truncated: true; fetch it with GET /jobs/{id}.</summary>
    [Range(0, 1_048_576)] public int MaxResultBytes { get; set; } = 16_384;

    /// <summary>The wait before each attempt, the first included; past the last, the delivery has failed. Units s, m, h.</summary>
    public string RetrySchedule { get; set; } = "0s,5s,5m,30m,2h,5h,10h,10h";

    /// <summary>An attempt succeeds on a 2xx within this; connecting alone may take <see cref="ConnectTimeoutSeconds"/>.</summary>
    [Range(1, 300)] public int TimeoutSeconds { get; set; } = 15;

    [Range(1, 60)] public int ConnectTimeoutSeconds { get; set; } = 5;

    /// <summary>After a rotation the old secret signs too, for this long, so receivers can switch without losing a delivery.</summary>
    [Range(0, 720)] public int RotationOverlapHours { get; set; } = 24;

    /// <summary>Whether this worker node sends deliveries (false: others do; the outbox rows wait for them).</summary>
    public bool DeliveryEnabled { get; set; } = true;

    /// <summary>Deliveries one node sends at once.</summary>
    [Range(1, 256)] public int Concurrency { get; set; } = 8;

    /// <summary>
    /// Deliveries to one receiver (a callback's scheme, host and port) being sent at once, across
    /// every node: a slow or silent receiver takes at most this many senders, and the others' webhooks go on.
    /// </summary>
    [Range(1, 256)] public int ConcurrencyPerReceiver { get; set; } = 4;

    /// <summary>How often a node looks for due deliveries when nothing woke it (a retry coming due, another node's job).</summary>
    [Range(50, 60_000)] public int PollIntervalMs { get; set; } = 1000;

    IReadOnlyList<TimeSpan>? _schedule;

    /// <summary>RetrySchedule as waits, parsed once: the outbox reads its first wait in every completion that has a callback.</summary>
    public IReadOnlyList<TimeSpan> Schedule() => _schedule ??= RetryDelays.Parse(RetrySchedule);
}
