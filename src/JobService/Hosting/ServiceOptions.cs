using System.ComponentModel.DataAnnotations;

namespace JobService.Hosting;

/// <summary>The <c>Service</c> section: which parts this instance runs.</summary>
public sealed class ServiceOptions
{
    public const string Section = "Service";

    /// <summary>
    /// <c>all</c> (API and workers, the default), <c>api</c> (HTTP only), or <c>worker</c>
    /// (workers, with only the health endpoints on HTTP). On PostgreSQL, scale each apart.
    /// </summary>
    [RegularExpression("^(all|api|worker)$", ErrorMessage = "Service:Role must be 'all', 'api' or 'worker'.")]
    public string Role { get; set; } = "all";

    public bool RunsApi => Role is "all" or "api";
    public bool RunsWorkers => Role is "all" or "worker";
}
