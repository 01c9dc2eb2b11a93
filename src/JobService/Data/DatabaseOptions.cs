using System.ComponentModel.DataAnnotations;

namespace JobService.Data;

/// <summary>The <c>Database</c> section. The connection string is <c>ConnectionStrings:Jobs</c>.</summary>
public sealed class DatabaseOptions
{
    public const string Section = "Database";

    /// <summary><c>sqlite</c> (embedded default) or <c>postgres</c>.</summary>
    [Required, RegularExpression("^(sqlite|postgres)$", ErrorMessage = "Database:Provider must be 'sqlite' or 'postgres'.")]
    public string Provider { get; set; } = "sqlite";

    /// <summary>Apply pending migrations when the service starts. Off when deployments run <c>migrate</c> as a step.</summary>
    public bool MigrateOnStartup { get; set; } = true;

    /// <summary>SQLite: how long a writer waits for the database lock before giving up.</summary>
    [Range(0, 600_000)]
    public int SqliteBusyTimeoutMs { get; set; } = 5_000;

    public bool IsPostgres => Provider == "postgres";
}
