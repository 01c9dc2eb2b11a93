namespace JobService.Data;

/// <summary>
/// An API key: the key itself is never stored, only its SHA-256 (keys are long and random, so no
/// slow KDF is needed) and a short prefix to find it by. Shown once, at creation.
/// </summary>
public sealed class ApiKey
{
    public Guid Id { get; set; }
    public required string TenantId { get; set; }
    public required string Name { get; set; }
    /// <summary>The key's first characters (jsk_ and eight more): how a presented key is looked up, and shown in listings.</summary>
    public required string Prefix { get; set; }
    /// <summary>SHA-256 of the whole key, lower-case hex.</summary>
    public required string KeyHash { get; set; }
    /// <summary>Space-separated: jobs:read jobs:write events:read admin.</summary>
    public required string Scopes { get; set; }
    public int? RateLimitPerMinute { get; set; }
    public DateTime CreatedAt { get; set; }
    /// <summary>Updated at most once a minute.</summary>
    public DateTime? LastUsedAt { get; set; }
    public DateTime? ExpiresAt { get; set; }
    public DateTime? RevokedAt { get; set; }
}
