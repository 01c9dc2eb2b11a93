using System.Net;
using System.Net.Sockets;
using System.Text.Json;
using JobService.Tests.Infrastructure;

namespace JobService.Tests.Hosting;

/// <summary>The service binary as an operator runs it: what it prints, and how it exits when it cannot start.</summary>
public sealed class ServiceProcessTests
{
    static readonly TimeSpan Within = TimeSpan.FromSeconds(60);

    [Fact]
    public async Task PostgresWithoutAConnectionStringExitsWithOneLineNamingTheKey()
    {
        await using var service = ServiceProcess.Start(new Dictionary<string, string> { ["Database__Provider"] = "postgres" });

        Assert.Equal(1, await service.ExitCodeAsync(Within));
        AssertOneLineNaming(service, "ConnectionStrings:Jobs");
    }

    /// <summary>
    /// Regression: a time without an offset in a body ("run_at": "2030-01-01T00:00:00") was read in
    /// the server's time zone (nine hours early on a host set to Tokyo); the API's times are UTC.
    /// </summary>
    [Fact]
    public async Task ATimeWithoutAnOffsetIsUtcWhateverTheServersTimeZone()
    {
        await using var database = TestDatabase.Sqlite();
        await using var service = ServiceProcess.Start(new Dictionary<string, string>
        {
            ["ConnectionStrings__Jobs"] = database.ConnectionString, ["TZ"] = "Asia/Tokyo",
        });
        await service.WaitUntilReadyAsync(Within);
        using var http = new HttpClient { BaseAddress = new Uri(service.BaseUrl) };

        var created = await http.PostAsync("/jobs", new StringContent(
            """{"type": "echo", "payload": {"text": "tz"}, "run_at": "2030-01-01T00:00:00"}""", System.Text.Encoding.UTF8, "application/json"));
        var paused = await http.PostAsync("/job-types/echo/pause", new StringContent(
            """{"until": "2030-01-01"}""", System.Text.Encoding.UTF8, "application/json"));

        Assert.Equal(HttpStatusCode.Created, created.StatusCode);
        Assert.Equal("2030-01-01T00:00:00Z", JsonDocument.Parse(await created.Content.ReadAsStringAsync()).RootElement.GetProperty("run_at").GetString());
        Assert.True(paused.IsSuccessStatusCode, await paused.Content.ReadAsStringAsync());
        Assert.Contains("\"until\":\"2030-01-01T00:00:00Z\"", await paused.Content.ReadAsStringAsync());
    }

    /// <summary>Regression: these settings' bad values ended the start-up with a stack trace and exit code 134, and a misspelt type's settings were ignored.</summary>
    [Theory]
    [InlineData("Logs__Format", "xml", "Logs:Format")]
    [InlineData("Serilog__MinimumLevel__Default", "Loud", "Serilog:MinimumLevel:Default")]
    [InlineData("Serilog__MinimumLevel__Override__Npgsql", "Loud", "Serilog:MinimumLevel:Override:Npgsql")]
    [InlineData("Jobs__Types__echo__MaxAttempts", "0", "Jobs:Types:echo")]
    [InlineData("Jobs__Types__ecko__MaxAttempts", "2", "Jobs:Types:ecko: there is no job type 'ecko'")]
    public async Task ALoggingOrJobTypeSettingItCannotUseExitsWithOneLineNamingTheKey(string variable, string value, string key)
    {
        await using var database = TestDatabase.Sqlite();
        await using var service = ServiceProcess.Start(new Dictionary<string, string>
        {
            ["ConnectionStrings__Jobs"] = database.ConnectionString, [variable] = value,
        });

        Assert.Equal(1, await service.ExitCodeAsync(Within));
        AssertOneLineNaming(service, key);
    }

    /// <summary>Regression: SIGTERM while the start-up waited for the database crashed the process (an unhandled cancellation, exit code 134).</summary>
    [Fact]
    public async Task ASigtermWhileWaitingForTheDatabaseStopsCleanly()
    {
        using var refusing = new RefusingPort();
        await using var service = ServiceProcess.Start(new Dictionary<string, string>
        {
            ["Database__Provider"] = "postgres",
            ["ConnectionStrings__Jobs"] = $"Host=127.0.0.1;Port={refusing.Port};Username=jobs;Database=jobs;Timeout=2",
            ["Database__StartupTimeoutSeconds"] = "120",
        });
        await service.WaitForOutputAsync("(try 1)", Within);
        await service.WaitForOutputAsync("Now listening on", Within); // the host has started: SIGTERM is its stop, not the runtime's kill

        service.Terminate();

        Assert.True(await service.ExitCodeAsync(Within) == 0, service.AllText);
        Assert.DoesNotContain("Unhandled exception", service.AllText);
        Assert.DoesNotContain(service.Output.Concat(service.Errors), l => l.TrimStart().StartsWith("at ", StringComparison.Ordinal));
    }

    /// <summary>
    /// With Database:MigrateOnStartup=false on a database not migrated yet, the service waits for
    /// the deployment's migrate step, not ready; it served the missing schema (every request a 500,
    /// every loop a stack trace). A migrate run meanwhile, from another process, is found without a restart.
    /// </summary>
    [Fact]
    public async Task WithoutMigrationsAtStartUpTheServiceWaitsNotReadyForTheMigrateStep()
    {
        await using var database = TestDatabase.Sqlite();
        var environment = new Dictionary<string, string> { ["ConnectionStrings__Jobs"] = database.ConnectionString };
        await using var service = ServiceProcess.Start(new Dictionary<string, string>(environment) { ["Database__MigrateOnStartup"] = "false" });
        await service.WaitForOutputAsync("is not migrated", Within);
        await service.WaitForOutputAsync("Now listening on", Within);
        using var http = new HttpClient { BaseAddress = new Uri(service.BaseUrl) };

        Assert.Equal(HttpStatusCode.ServiceUnavailable, (await http.GetAsync("/health/ready")).StatusCode);
        var waiting = await http.GetAsync("/jobs");
        Assert.Equal(HttpStatusCode.ServiceUnavailable, waiting.StatusCode);
        Assert.NotNull(waiting.Headers.RetryAfter);
        Assert.Equal("Starting up", JsonDocument.Parse(await waiting.Content.ReadAsStringAsync()).RootElement.GetProperty("title").GetString());
        Assert.Equal(HttpStatusCode.OK, (await http.GetAsync("/health/live")).StatusCode);
        await using (var migrate = ServiceProcess.Start(environment, "migrate"))
            Assert.True(await migrate.ExitCodeAsync(Within) == 0, migrate.AllText);

        await service.WaitUntilReadyAsync(Within);
        Assert.Equal(HttpStatusCode.OK, (await http.GetAsync("/jobs")).StatusCode);
        Assert.DoesNotContain(service.Output.Concat(service.Errors), l => l.TrimStart().StartsWith("at ", StringComparison.Ordinal));
    }

    /// <summary>Regression: a value of the wrong kind (a word where a number goes) ended the start-up with 42 lines of stack trace.</summary>
    [Fact]
    public async Task ASettingOfTheWrongKindExitsWithOneLineNamingTheKey()
    {
        await using var database = TestDatabase.Sqlite();
        await using var service = ServiceProcess.Start(new Dictionary<string, string>
        {
            ["ConnectionStrings__Jobs"] = database.ConnectionString,
            ["Worker__Concurrency"] = "abc",
        });

        Assert.Equal(1, await service.ExitCodeAsync(Within));
        AssertOneLineNaming(service, "Worker:Concurrency");
    }

    [Fact]
    public async Task AMalformedConnectionStringExitsWithOneLineNamingTheKey()
    {
        await using var service = ServiceProcess.Start(new Dictionary<string, string>
        {
            ["Database__Provider"] = "postgres",
            ["ConnectionStrings__Jobs"] = "Host=127.0.0.1;Flavour=strawberry",
        });

        Assert.Equal(1, await service.ExitCodeAsync(Within));
        AssertOneLineNaming(service, "ConnectionStrings:Jobs");
    }

    /// <summary>Regression: a misspelt key in one of the service's sections was read by nothing, silently: the setting stayed its default.</summary>
    [Theory]
    [InlineData("Worker__Concurency", "3", "Worker:Concurency is not a setting: Worker takes", "Concurrency")]
    [InlineData("Retention__CompletedHour", "1", "Retention:CompletedHour is not a setting", "CompletedHours")]
    [InlineData("Jobs__Types__echo__Timeout", "5", "Jobs:Types:echo:Timeout is not a setting", "TimeoutSeconds")]
    [InlineData("Jobs__Type__echo__TimeoutSeconds", "5", "Jobs:Type is not a setting: Jobs takes", "Types")]
    [InlineData("Llm__Types__generate_characters__MaxToken", "5", "Llm:Types:generate_characters:MaxToken is not a setting", "MaxTokens")]
    [InlineData("Llm__Providers__local__BaseUri", "http://127.0.0.1:1/v1", "Llm:Providers:local:BaseUri is not a setting", "BaseUrl")]
    [InlineData("Logs__Formatt", "json", "Logs:Formatt is not a setting", "Format")]
    [InlineData("Database__ConnectionString", "Data Source=elsewhere.db", "Database:ConnectionString is not a setting", "SqliteBusyTimeoutMs")]
    public async Task AKeyNoSettingReadsStopsTheStartNamingItAndWhatItsSectionTakes(string variable, string value, string said, string known)
    {
        await using var database = TestDatabase.Sqlite();
        await using var service = ServiceProcess.Start(new Dictionary<string, string>
        {
            ["ConnectionStrings__Jobs"] = database.ConnectionString, [variable] = value,
        });

        Assert.Equal(1, await service.ExitCodeAsync(Within));
        AssertOneLineNaming(service, said);
        Assert.Contains(known, service.Errors.Single());
    }

    /// <summary>Regression: a port another process holds crashed the start with two stack traces and exit 134.</summary>
    [Fact]
    public async Task APortInUseStopsTheStartInOneLine()
    {
        using var holder = new TcpListener(IPAddress.Loopback, 0);
        holder.Start();
        var port = ((IPEndPoint)holder.LocalEndpoint).Port;
        await using var database = TestDatabase.Sqlite();
        await using var service = ServiceProcess.StartOnPort(port, new Dictionary<string, string> { ["ConnectionStrings__Jobs"] = database.ConnectionString });

        Assert.Equal(1, await service.ExitCodeAsync(Within));
        AssertOneLineNaming(service, "address already in use");
    }

    /// <summary>Regression: a job type declared wrong (a name that is no identifier, two handlers with one name) crashed the start with a stack trace and exit 134.</summary>
    [Fact]
    public async Task AJobTypeDeclaredWrongStopsTheStartInOneLine()
    {
        await using var database = TestDatabase.Sqlite();
        await using var service = ServiceProcess.Start(new Dictionary<string, string>
        {
            ["ConnectionStrings__Jobs"] = database.ConnectionString, ["Llm__Types__SendEmail__Prompt"] = "Write an email about {topic}",
        });

        Assert.Equal(1, await service.ExitCodeAsync(Within));
        AssertOneLineNaming(service, "'SendEmail' is not a valid job type name");
    }

    [Fact]
    public async Task AnUnreachableDatabaseIsRetriedWhileReadinessSaysUnhealthyThenTheServiceExits()
    {
        using var refusing = new RefusingPort();
        var port = refusing.Port;
        await using var service = ServiceProcess.Start(new Dictionary<string, string>
        {
            ["Database__Provider"] = "postgres",
            ["ConnectionStrings__Jobs"] = $"Host=127.0.0.1;Port={port};Username=jobs;Database=jobs;Timeout=2",
            ["Database__StartupTimeoutSeconds"] = "6",
        });
        await service.WaitForOutputAsync("(try 1)", Within);
        await service.WaitForOutputAsync("Now listening on", Within); // the wait begins before Kestrel starts, beside it

        using var http = new HttpClient { BaseAddress = new Uri(service.BaseUrl) };
        var ready = await http.GetAsync("/health/ready");
        Assert.Equal(HttpStatusCode.ServiceUnavailable, ready.StatusCode);
        var body = JsonDocument.Parse(await ready.Content.ReadAsStringAsync()).RootElement;
        Assert.Equal("unhealthy", body.GetProperty("status").GetString());
        Assert.Equal("unhealthy", body.GetProperty("checks").GetProperty("database").GetProperty("status").GetString());
        Assert.Equal(HttpStatusCode.OK, (await http.GetAsync("/health/live")).StatusCode);

        // A probe and a client keep asking until the process gives up: requests in flight when the
        // start failed met a disposed container (ObjectDisposedException, logged with its stack trace).
        using var exited = new CancellationTokenSource();
        var asking = Task.Run(async () =>
        {
            while (!exited.IsCancellationRequested)
                try { await Task.WhenAll(http.GetAsync("/health/ready", exited.Token), http.GetAsync("/jobs", exited.Token)); }
                catch (Exception) { } // refused once it stopped listening
        });
        Assert.Equal(1, await service.ExitCodeAsync(Within));
        await exited.CancelAsync();
        await asking;
        Assert.DoesNotContain(service.Output.Concat(service.Errors), l => l.Contains("ObjectDisposedException") || l.Contains("Unhandled error"));
        var tries = service.Output.Where(l => l.Contains("does not answer (try", StringComparison.Ordinal)).ToList();
        Assert.True(tries.Count >= 2, service.AllText);
        Assert.All(tries, l => Assert.Contains($"127.0.0.1:{port}", l));
        AssertOneLineNaming(service, "Database:StartupTimeoutSeconds");
    }

    /// <summary>Regression: a database not created yet was a bug to the notification connection, which logged a stack trace at every reconnect.</summary>
    [Fact]
    public async Task ADatabaseNotCreatedYetIsWaitedForInOneLineATry()
    {
        var server = TestDatabase.PostgresServer(out var reason);
        if (server is null) Assert.Skip(reason);
        await using var service = ServiceProcess.Start(new Dictionary<string, string>
        {
            ["Database__Provider"] = "postgres",
            ["ConnectionStrings__Jobs"] = new Npgsql.NpgsqlConnectionStringBuilder(server) { Database = $"not_yet_{Guid.NewGuid():N}" }.ConnectionString,
            ["Database__StartupTimeoutSeconds"] = "600",
        });

        await service.WaitForOutputAsync("The notification connection failed", Within);
        await service.WaitForOutputAsync("(try 3)", Within); // the notifier tried again several times meanwhile (every 0.25 s to 2 s)

        // Told once for the outage, not at every reconnect.
        Assert.Single(service.Output, l => l.Contains("The notification connection failed: 3D000", StringComparison.Ordinal));
        Assert.DoesNotContain(service.Output.Concat(service.Errors), l => l.TrimStart().StartsWith("at ", StringComparison.Ordinal));
    }

    /// <summary>Regression: a role that does not exist was told as "does not answer" and tried again for the whole start-up timeout.</summary>
    [Fact]
    public async Task ADatabaseThatRefusesTheLoginStopsTheStartAtOnceSayingSo()
    {
        var server = TestDatabase.PostgresServer(out var reason);
        if (server is null) Assert.Skip(reason);
        await using var service = ServiceProcess.Start(new Dictionary<string, string>
        {
            ["Database__Provider"] = "postgres",
            ["ConnectionStrings__Jobs"] = new Npgsql.NpgsqlConnectionStringBuilder(server) { Username = "no_such_role_here" }.ConnectionString,
            ["Database__StartupTimeoutSeconds"] = "600", // were it tried again, the test would time out, not pass
        });

        Assert.Equal(1, await service.ExitCodeAsync(Within));
        AssertOneLineNaming(service, "ConnectionStrings:Jobs");
        Assert.Contains("refused the login: 28", Assert.Single(service.Errors)); // 28000 under trust auth, 28P01 under a password
        Assert.DoesNotContain(service.Output, l => l.Contains("does not answer", StringComparison.Ordinal));
    }

    [Fact]
    public async Task JsonLogsAreCompactJsonLinesWithOneLinePerRequest()
    {
        await using var database = TestDatabase.Sqlite();
        await using var service = ServiceProcess.Start(new Dictionary<string, string>
        {
            ["Logs__Format"] = "json",
            ["ConnectionStrings__Jobs"] = database.ConnectionString,
            ["Service__Role"] = "api",
        });
        await service.WaitUntilReadyAsync(Within);
        using var http = new HttpClient { BaseAddress = new Uri(service.BaseUrl) };

        Assert.Equal(HttpStatusCode.NotFound, (await http.GetAsync($"/jobs/{Guid.CreateVersion7()}")).StatusCode);
        await service.WaitForOutputAsync("responded 404", Within);

        var lines = service.Output.Select(l => JsonDocument.Parse(l).RootElement).ToList(); // every line is one JSON object
        Assert.All(lines, l => Assert.True(l.TryGetProperty("@t", out _) && l.TryGetProperty("@m", out _), l.ToString()));
        var request = Assert.Single(lines, l => l.GetProperty("@m").GetString()!.StartsWith("HTTP GET /jobs/", StringComparison.Ordinal));
        Assert.Equal(404, request.GetProperty("StatusCode").GetInt32());
        Assert.Equal("Serilog.AspNetCore.RequestLoggingMiddleware", request.GetProperty("SourceContext").GetString());
        Assert.All(lines, l => Assert.False(l.TryGetProperty("JobTag", out _), l.ToString())); // the text format's prefix; JSON has the fields
    }

    /// <summary>Regression: a request with a key that is not valid logged three lines of the auth handler's before its own ("was not authenticated" twice, "was challenged").</summary>
    [Fact]
    public async Task ARequestWithAKeyThatIsNotValidIsOneLineInTheLog()
    {
        await using var database = TestDatabase.Sqlite();
        await using var service = ServiceProcess.Start(new Dictionary<string, string>
        {
            ["ConnectionStrings__Jobs"] = database.ConnectionString, ["Auth__Enabled"] = "true",
            ["Auth__BootstrapAdminKey"] = "jsk_ProcessTestBootstrapKey012345678",
        });
        await service.WaitUntilReadyAsync(Within);
        using var http = new HttpClient { BaseAddress = new Uri(service.BaseUrl) };
        http.DefaultRequestHeaders.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", "jsk_NotAKeyAtAll0000000000000000000");

        Assert.Equal(HttpStatusCode.Unauthorized, (await http.GetAsync("/jobs")).StatusCode);
        await service.WaitForOutputAsync("responded 401", Within);

        Assert.DoesNotContain(service.Output, l => l.Contains("authenticated", StringComparison.Ordinal) || l.Contains("challenged", StringComparison.Ordinal));
    }

    /// <summary>Regression: losing an Idempotency-Key race is an expected outcome, but it was logged as an error with a stack trace.</summary>
    [Fact]
    public async Task ALostIdempotencyRaceIsNotAnErrorInTheLog()
    {
        await using var database = TestDatabase.Sqlite();
        await using var service = ServiceProcess.Start(new Dictionary<string, string> { ["ConnectionStrings__Jobs"] = database.ConnectionString });
        await service.WaitUntilReadyAsync(Within);
        using var http = new HttpClient { BaseAddress = new Uri(service.BaseUrl) };

        var responses = await Task.WhenAll(Enumerable.Range(0, 20).Select(_ =>
        {
            var request = new HttpRequestMessage(HttpMethod.Post, "/jobs") { Content = Http.Json("""{"type": "echo", "payload": {"text": "once"}}""") };
            request.Headers.Add("Idempotency-Key", "race");
            return http.SendAsync(request);
        }));

        Assert.Single(responses, r => r.StatusCode == HttpStatusCode.Created);
        Assert.All(responses, r => Assert.True(r.StatusCode is HttpStatusCode.Created or HttpStatusCode.OK, r.StatusCode.ToString()));
        await service.WaitForOutputAsync("responded 200", Within);
        Assert.DoesNotContain(service.Output.Concat(service.Errors), l => l.Contains(" ERR]") || l.Contains("UNIQUE constraint"));
    }

    /// <summary>Exactly one line on stderr, naming the setting to fix; no stack trace anywhere.</summary>
    static void AssertOneLineNaming(ServiceProcess service, string key)
    {
        var line = Assert.Single(service.Errors);
        Assert.StartsWith("JobService could not start: ", line);
        Assert.Contains(key, line);
        Assert.DoesNotContain(service.Output.Concat(service.Errors), l => l.TrimStart().StartsWith("at ", StringComparison.Ordinal));
    }
}
