using System.Net;
using JobService.Tests.Infrastructure;
using Microsoft.Data.Sqlite;

namespace JobService.Tests.Data;

/// <summary>The embedded database's file as an operator meets it: locked by another process, not a database, read-only.</summary>
public sealed class SqliteFileTests : IDisposable
{
    static readonly TimeSpan Within = TimeSpan.FromSeconds(60);
    readonly TempFolder _temp = new();

    public void Dispose() => _temp.Dispose();

    /// <summary>
    /// Regression: Microsoft.Data.Sqlite retried a busy statement for its own 30 s command timeout
    /// after SQLite's busy_timeout, so a writer waited ~30 s whatever Database:SqliteBusyTimeoutMs
    /// said. Set to 1 s, a submit behind another process's write lock is a 503 long before 30 s.
    /// </summary>
    [Fact]
    public async Task AWriterWaitsForTheLockAsLongAsSqliteBusyTimeoutMsSays()
    {
        await using var app = new WorkerApp(TestDatabase.Sqlite(), new() { ["Service:Role"] = "api", ["Database:SqliteBusyTimeoutMs"] = "1000" });
        await app.SubmitAsync(new { type = "echo", payload = new { text = "migrated and warm" } });
        await using var other = new SqliteConnection(app.Database.ConnectionString);
        await other.OpenAsync();
        await using (var begin = other.CreateCommand())
        {
            begin.CommandText = "BEGIN IMMEDIATE"; // another process's write lock, held until the answer came
            await begin.ExecuteNonQueryAsync();
        }

        var refused = await app.Client.PostAsync("/jobs", Http.Json("""{"type": "echo", "payload": {"text": "behind the lock"}}"""))
            .WaitAsync(TimeSpan.FromSeconds(20)); // the setting's 1 s, against the 30 s it was

        await refused.ShouldBeProblemAsync(HttpStatusCode.ServiceUnavailable);
        await using (var rollback = other.CreateCommand())
        {
            rollback.CommandText = "ROLLBACK";
            await rollback.ExecuteNonQueryAsync();
        }
        Assert.Equal(HttpStatusCode.Created, (await app.Client.PostAsync("/jobs", Http.Json("""{"type": "echo", "payload": {"text": "after"}}"""))).StatusCode);
    }

    /// <summary>
    /// Regression: a file that is not a SQLite database was tried for Database:StartupTimeoutSeconds
    /// as a database that "does not answer"; a database read-only to the process started, said it
    /// was ready, and answered every write with a 500. Both now stop the start-up at once, saying why.
    /// </summary>
    [Theory]
    [InlineData("text", "file is not a database")]
    [InlineData("read-only", "readonly database")]
    public async Task AFileTheServiceCannotUseStopsTheStartUpAtOnceSayingWhy(string kind, string said)
    {
        var path = _temp.NewDatabase("file");
        var connection = $"Data Source={path}";
        if (kind == "text") await File.WriteAllTextAsync(path, "hello, not a database\n");
        else
        {
            await using (var migrate = ServiceProcess.Start(new Dictionary<string, string> { ["ConnectionStrings__Jobs"] = connection }, "migrate"))
                Assert.True(await migrate.ExitCodeAsync(Within) == 0, migrate.AllText);
            connection += ";Mode=ReadOnly"; // as a file this user may not write opens
        }

        await using var process = ServiceProcess.Start(new Dictionary<string, string>
        {
            ["ConnectionStrings__Jobs"] = connection, ["Database__StartupTimeoutSeconds"] = "3600",
        });

        Assert.True(await process.ExitCodeAsync(Within) == 1, process.AllText);
        Assert.Contains(process.AllText.Split('\n'), l => l.Contains("cannot be used by this process") && l.Contains(said));
    }
}
