using System.Security.Claims;

namespace JobService.Auth;

/// <summary>
/// Who is calling, as the authentication handler established it: a tenant and scopes (and, for a
/// stream token, the one job it opens). With auth off, every request is the default tenant
/// with every scope.
/// </summary>
public sealed record Caller(string TenantId, IReadOnlySet<string> Scopes, Guid? KeyId, Guid? OnlyJob = null)
{
    public const string DefaultTenant = "default";

    public bool IsAdmin => Scopes.Contains(Scope.Admin);

    /// <summary>
    /// Which tenant's jobs a list, stats or stream shows: the caller's own, unless an admin names
    /// another (<c>?tenant_id=acme</c>) or every tenant (<c>?tenant_id=*</c>); null means every tenant.
    /// </summary>
    public string? TenantScope(string? requested) => IsAdmin && requested is not null ? (requested == "*" ? null : requested) : TenantId;

    /// <summary>Naming a tenant other than one's own (or every tenant) takes the admin scope.</summary>
    public bool MayAsk(string? requested) => requested is null || requested == TenantId || IsAdmin;

    /// <summary>The tenant a single job must belong to for this caller to see it (null: an admin sees every tenant's).</summary>
    public string? JobTenant => IsAdmin ? null : TenantId;

    public static Caller From(ClaimsPrincipal user) => new(
        user.FindFirstValue(ClaimTypes.Tenant) ?? DefaultTenant,
        user.FindAll(ClaimTypes.Scope).Select(c => c.Value).ToHashSet(),
        Guid.TryParse(user.FindFirstValue(ClaimTypes.KeyId), out var key) ? key : null,
        Guid.TryParse(user.FindFirstValue(ClaimTypes.OnlyJob), out var job) ? job : null);

    public static class ClaimTypes
    {
        public const string Tenant = "tenant_id";
        public const string Scope = "scope";
        public const string KeyId = "key_id";
        public const string OnlyJob = "job_id";
        public const string RateLimit = "rate_limit_per_minute";
    }
}

/// <summary>The scopes a key may hold.</summary>
public static class Scope
{
    public const string JobsRead = "jobs:read";
    public const string JobsWrite = "jobs:write";
    public const string EventsRead = "events:read";
    public const string Admin = "admin";

    public static readonly IReadOnlyList<string> All = [JobsRead, JobsWrite, EventsRead, Admin];

    /// <summary>Whether a key holding <paramref name="held"/> may do what <paramref name="scope"/> allows: admin may do anything.</summary>
    public static bool Grants(IEnumerable<string> held, string scope) => held.Any(s => s == scope || s == Admin);
}
