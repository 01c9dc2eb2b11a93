using System.ComponentModel.DataAnnotations;
using Microsoft.Data.Sqlite;
using Npgsql;

namespace JobService.Data;

/// <summary>The <c>Database</c> section, and the connection string <c>ConnectionStrings:Jobs</c>.</summary>
public sealed class DatabaseOptions : IValidatableObject
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

    /// <summary>At start-up, how long to keep trying a database that does not answer before giving up (exit 1).</summary>
    [Range(0, 3_600)]
    public int StartupTimeoutSeconds { get; set; } = 60;

    /// <summary>From <c>ConnectionStrings:Jobs</c>, not from this section (Database:ConnectionString is refused as no setting).</summary>
    [Hosting.NotASetting]
    public string ConnectionString { get; set; } = "";

    public bool IsPostgres => Provider == "postgres";

    public IEnumerable<ValidationResult> Validate(ValidationContext context)
    {
        if (IsPostgres && string.IsNullOrWhiteSpace(ConnectionString))
        {
            yield return new ValidationResult("ConnectionStrings:Jobs is required when Database:Provider is 'postgres' " +
                "(for example Host=127.0.0.1;Username=jobs;Password=…;Database=jobs).");
            yield break;
        }
        string? malformed = null;
        try
        {
            if (IsPostgres) _ = new NpgsqlConnectionStringBuilder(ConnectionString);
            else _ = new SqliteConnectionStringBuilder(ConnectionString);
        }
        catch (Exception e) when (e is ArgumentException or FormatException or KeyNotFoundException)
        {
            malformed = e.Message;
        }
        if (malformed is not null)
            yield return new ValidationResult($"ConnectionStrings:Jobs is not a valid {Provider} connection string: {malformed}");
    }
}
