using System.ComponentModel.DataAnnotations;

namespace JobService.Dashboard;

/// <summary>The <c>Dashboard</c> section: the ops dashboard and the bulk actions behind it (docs/dashboard.md).</summary>
public sealed class DashboardOptions : IValidatableObject
{
    public const string Section = "Dashboard";

    /// <summary>Serve the dashboard's pages (the API endpoints it uses are served either way).</summary>
    public bool Enabled { get; set; } = true;

    /// <summary>Where the pages are served.</summary>
    [RegularExpression("^/[a-z0-9_-]+(/[a-z0-9_-]+)*\\z", ErrorMessage = "Dashboard:Path must look like /dashboard: lower-case segments, no trailing slash.")]
    public string Path { get; set; } = "/dashboard";

    /// <summary>With auth off, the dashboard is served only while the service listens on loopback, unless this says otherwise on purpose.</summary>
    public bool AllowAnonymous { get; set; }

    /// <summary>How often the pages read the counts again (GET /jobs/stats); the rest is pushed.</summary>
    [Range(1, 3_600)] public int StatsRefreshSeconds { get; set; } = 10;

    /// <summary>POST /jobs/bulk/{action} reads and changes the jobs it acts on in batches of this many.</summary>
    [Range(1, 10_000)] public int BulkBatchSize { get; set; } = 500;

    /// <summary>A sign-in lasts this long (the cookie is refused after it); the key's own expiry and revocation apply as well.</summary>
    [Range(1, 24 * 30)] public int SessionHours { get; set; } = 12;

    public IEnumerable<ValidationResult> Validate(ValidationContext context)
    {
        if (Path is "/jobs" or "/events" or "/job-types" or "/workers" or "/api-keys" or "/health" or "/swagger" or "/metrics")
            yield return new ValidationResult($"Dashboard:Path '{Path}' is one of the API's own paths; pick another (/dashboard).", [nameof(Path)]);
    }
}
