using System.ComponentModel.DataAnnotations;

namespace JobService.Auth;

/// <summary>The <c>Auth</c> section: API keys, tenants and scopes (docs/security.md).</summary>
public sealed class AuthOptions
{
    public const string Section = "Auth";

    /// <summary>
    /// Off by default, so that the README's first command needs nothing: every request then acts
    /// as the default tenant with every scope. On, every request needs an API key.
    /// </summary>
    public bool Enabled { get; set; }

    /// <summary>Says on purpose that a service listening beyond loopback may run with auth off.</summary>
    public bool AllowAnonymous { get; set; }

    /// <summary>From the environment: an admin key created (or kept) at start-up, so a new deployment can make its first keys.</summary>
    public string? BootstrapAdminKey { get; set; }

    /// <summary>A valid key is trusted this long without asking the database again (so a revoke takes at most this long).</summary>
    [Range(0, 3_600)] public int KeyCacheSeconds { get; set; } = 30;
}
