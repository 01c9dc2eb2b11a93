using System.ComponentModel.DataAnnotations;

namespace JobService.Auth;

/// <summary>
/// The <c>RateLimits</c> section: per-instance HTTP limits, partitioned by API key (by client IP
/// with auth off). Cluster-wide quotas are <see cref="TenantOptions"/>. The defaults are sized so
/// that one busy frontend never meets them (with auth off every local client shares one
/// partition); lower them per deployment.
/// </summary>
public sealed class RateLimitOptions
{
    public const string Section = "RateLimits";

    /// <summary>Submits (POST /jobs, POST /jobs/batch) per minute per key, refilled continuously; a key's own rate_limit_per_minute overrides it.</summary>
    [Range(1, 10_000_000)] public int SubmitPerMinute { get; set; } = 6_000;

    /// <summary>How many submits a key may make at once before the rate applies.</summary>
    [Range(1, 1_000_000)] public int SubmitBurst { get; set; } = 1_000;

    /// <summary>Reads per minute per key, refilled continuously; as many at once.</summary>
    [Range(1, 10_000_000)] public int ReadsPerMinute { get; set; } = 60_000;

    /// <summary>Event streams a key may hold open at once.</summary>
    [Range(1, 100_000)] public int StreamsPerKey { get; set; } = 100;
}

/// <summary>The <c>Tenants</c> section: limits that hold across every instance (kept in the database).</summary>
public sealed class TenantOptions
{
    public const string Section = "Tenants";

    /// <summary>Pending and running jobs a tenant may have at once; a submit or retry past it is a 429 (quota), the whole batch refused. 0: no quota.</summary>
    [Range(0, 100_000_000)] public int MaxActiveJobs { get; set; } = 10_000;

    /// <summary>
    /// The active-job quota a caller's submits and retries count against (0: none). A key's tenant
    /// has <see cref="MaxActiveJobs"/>; with auth off there is one implicit tenant and no one to keep
    /// apart from it, so its backlog is bounded by nothing but the database (docs/security.md).
    /// </summary>
    public int QuotaFor(Caller caller) => caller.KeyId is null ? 0 : MaxActiveJobs;

    /// <summary>Optional: running jobs a tenant may have at once across all workers (0: no limit beyond fair claiming).</summary>
    [Range(0, 1_000_000)] public int MaxRunningPerTenant { get; set; }
}
