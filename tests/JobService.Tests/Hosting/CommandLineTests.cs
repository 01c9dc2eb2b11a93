using JobService.Tests.Infrastructure;

namespace JobService.Tests.Hosting;

/// <summary>
/// The binary's verbs as an operator types them: a word it does not know stops it before it
/// touches the database, and says what it would take instead.
/// </summary>
public sealed class CommandLineTests : IDisposable
{
    static readonly TimeSpan Within = TimeSpan.FromSeconds(60);
    readonly TempFolder _temp = new();

    Dictionary<string, string> OwnDatabase(out string path)
    {
        path = _temp.NewDatabase("cli");
        return new Dictionary<string, string> { ["ConnectionStrings__Jobs"] = $"Data Source={path}" };
    }

    public void Dispose() => _temp.Dispose();

    /// <summary>Regression: the host ignores a bare word, so a misspelt verb served the whole API and ran its workers.</summary>
    [Theory]
    [InlineData("migrat")]
    [InlineData("create-keys")]
    public async Task AMisspeltCommandIsRefusedNotServed(string verb)
    {
        await using var process = ServiceProcess.Start(OwnDatabase(out var path), verb);

        Assert.True(await process.ExitCodeAsync(Within) == 2, process.AllText);
        Assert.Contains(process.Errors, l => l == $"'{verb}' is not a command; the commands are migrate, create-key, healthcheck, help.");
        Assert.Contains(process.Errors, l => l.StartsWith("usage: JobService", StringComparison.Ordinal));
        Assert.False(File.Exists(path), "nothing may touch the database");
    }

    /// <summary>Regression: migrate took any word after it, so migrate --dry-run migrated.</summary>
    [Fact]
    public async Task MigrateRefusesAFlagItDoesNotTake()
    {
        await using var process = ServiceProcess.Start(OwnDatabase(out var path), "migrate", "--dry-run", "Serilog:MinimumLevel=Warning");

        Assert.True(await process.ExitCodeAsync(Within) == 2, process.AllText);
        Assert.Contains(process.Errors, l => l == "migrate does not take --dry-run.");
        Assert.DoesNotContain(process.Errors, l => l.Contains("Serilog"));
        Assert.False(File.Exists(path), "a refused migrate must not create or migrate the database");
    }

    [Fact]
    public async Task MigrateWithSettingsOnlyMigrates()
    {
        await using var process = ServiceProcess.Start(OwnDatabase(out var path), "migrate", "--Serilog:MinimumLevel", "Information");

        Assert.True(await process.ExitCodeAsync(Within) == 0, process.AllText);
        Assert.True(File.Exists(path));
    }

    /// <summary>
    /// Regression: a process killed while it migrated a SQLite database left EF Core's lock row
    /// (__EFMigrationsLock) behind, and every later start, the migrate verb too, waited for it for
    /// ever. A lock whose holder is gone is now removed, with a warning.
    /// </summary>
    [Fact]
    public async Task AMigrationLockLeftByAProcessKilledWhileMigratingDoesNotHoldTheNextStart()
    {
        var environment = OwnDatabase(out var path);
        await using (var connection = new Microsoft.Data.Sqlite.SqliteConnection($"Data Source={path}"))
        {
            await connection.OpenAsync();
            await using var command = connection.CreateCommand();
            // As EF Core leaves it when its process dies between taking the lock and the first migration.
            command.CommandText = """
                CREATE TABLE "__EFMigrationsLock" ("Id" INTEGER NOT NULL CONSTRAINT "PK___EFMigrationsLock" PRIMARY KEY, "Timestamp" TEXT NOT NULL);
                INSERT INTO "__EFMigrationsLock" VALUES (1, @taken);
                """;
            command.Parameters.AddWithValue("@taken", (DateTimeOffset.UtcNow - TimeSpan.FromMinutes(6)).ToString("yyyy-MM-dd HH:mm:ss.fffffffzzz"));
            await command.ExecuteNonQueryAsync();
        }

        await using var process = ServiceProcess.Start(environment, "migrate", "--Serilog:MinimumLevel", "Information");

        Assert.True(await process.ExitCodeAsync(Within) == 0, process.AllText);
        Assert.Contains("Removed the migration lock (__EFMigrationsLock)", process.AllText);
    }

    /// <summary>Regression: healthcheck without a URL probed port 8080, so a container given another port (ASPNETCORE_HTTP_PORTS) was unhealthy.</summary>
    [Theory]
    [InlineData(null, null, "http://127.0.0.1:8080/health/ready")]
    [InlineData(null, "9090", "http://127.0.0.1:9090/health/ready")]
    [InlineData(null, "9090;9091", "http://127.0.0.1:9090/health/ready")]
    [InlineData(null, "not-a-port", "http://127.0.0.1:8080/health/ready")]
    [InlineData("http://+:9000", "8080", "http://127.0.0.1:9000/health/ready")] // ASPNETCORE_URLS wins over HTTP_PORTS, as Kestrel reads them
    [InlineData("https://*:9443;http://0.0.0.0:9001", null, "http://127.0.0.1:9001/health/ready")]
    [InlineData("http://[::]:9002", null, "http://127.0.0.1:9002/health/ready")]
    public void HealthcheckWithoutAUrlProbesTheContainersOwnPort(string? urls, string? ports, string url) =>
        Assert.Equal(url, JobService.Hosting.HealthProbe.DefaultUrl(urls, ports));

    /// <summary>
    /// A young lock row may be a live migrator's without the OS lock (an older JobService, EF Core's
    /// tools): waited for, not deleted, and the migration goes on once it is gone.
    /// </summary>
    [Fact]
    public async Task AYoungMigrationLockIsWaitedForNotRemoved()
    {
        var environment = OwnDatabase(out var path);
        await using var connection = new Microsoft.Data.Sqlite.SqliteConnection($"Data Source={path}");
        await connection.OpenAsync();
        await using (var command = connection.CreateCommand())
        {
            command.CommandText = """
                CREATE TABLE "__EFMigrationsLock" ("Id" INTEGER NOT NULL CONSTRAINT "PK___EFMigrationsLock" PRIMARY KEY, "Timestamp" TEXT NOT NULL);
                INSERT INTO "__EFMigrationsLock" VALUES (1, @taken);
                """;
            command.Parameters.AddWithValue("@taken", DateTimeOffset.UtcNow.ToString("yyyy-MM-dd HH:mm:ss.fffffffzzz"));
            await command.ExecuteNonQueryAsync();
        }

        await using var process = ServiceProcess.Start(environment, "migrate", "--Serilog:MinimumLevel", "Information");
        await process.WaitForOutputAsync("The migration lock of", Within);
        await using (var release = connection.CreateCommand())
        {
            release.CommandText = "DELETE FROM \"__EFMigrationsLock\"";
            await release.ExecuteNonQueryAsync(); // the other migrator finished
        }

        Assert.True(await process.ExitCodeAsync(Within) == 0, process.AllText);
        Assert.DoesNotContain("Removed the migration lock", process.AllText);
    }

    [Fact]
    public async Task HelpPrintsTheCommands()
    {
        await using var process = ServiceProcess.Start(OwnDatabase(out var path), "--help");

        Assert.True(await process.ExitCodeAsync(Within) == 0, process.AllText);
        Assert.Contains(process.Output, l => l.Contains("JobService migrate"));
        Assert.Contains(process.Output, l => l.Contains("JobService create-key --tenant"));
        Assert.False(File.Exists(path));
    }

    /// <summary>Regression: help took any word after it and said nothing (exit 0); a healthcheck given no URL crashed with a stack trace.</summary>
    [Theory]
    [InlineData("help", "foo", "help takes nothing after it, not foo.")]
    [InlineData("healthcheck", "not-a-url", "healthcheck takes an http(s) URL, not 'not-a-url'.")]
    public async Task AVerbGivenAWordItDoesNotTakeExitsWithTwo(string verb, string word, string said)
    {
        await using var process = ServiceProcess.Start(OwnDatabase(out var path), verb, word);

        Assert.True(await process.ExitCodeAsync(Within) == 2, process.AllText);
        Assert.Contains(process.Errors, l => l == said);
        Assert.DoesNotContain(process.Errors, l => l.TrimStart().StartsWith("at ", StringComparison.Ordinal));
        Assert.False(File.Exists(path));
    }
}
