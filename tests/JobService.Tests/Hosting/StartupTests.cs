using JobService.Handlers;
using JobService.Hosting;
using JobService.Tests.Infrastructure;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Mvc.Testing;
using Microsoft.AspNetCore.TestHost;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

namespace JobService.Tests.Hosting;

/// <summary>A bad registry or a bad setting stops the start-up with a message naming the cause.</summary>
public sealed class StartupTests
{
    /// <summary>The service on its own SQLite file with these settings (and extra services), not yet started.</summary>
    static WebApplicationFactory<Program> App(TestDatabase database, (string Key, string Value)[] settings,
        Action<Microsoft.Extensions.DependencyInjection.IServiceCollection>? services = null) =>
        new WebApplicationFactory<Program>().WithWebHostBuilder(b =>
        {
            b.UseSetting("ConnectionStrings:Jobs", database.ConnectionString);
            foreach (var (key, value) in settings) b.UseSetting(key, value);
            if (services is not null) b.ConfigureTestServices(services);
        });

    [Fact]
    public Task TwoHandlersWithOneTypeNameFailTheStartUp() =>
        AssertStartRefused(s => s.AddJobHandler<GreetHandler>().AddJobHandler<GreetHandler>(), "'greet'");

    /// <summary>The handler's factory is made at its first run; a handler it could not make still stops the start, not each of its jobs.</summary>
    [Fact]
    public Task AHandlerWithTwoPublicConstructorsFailsTheStartUp() =>
        AssertStartRefused(s => s.AddJobHandler<TwoConstructorsHandler>(), "TwoConstructorsHandler has 2 public constructors");

    /// <summary>Regression: the refusal came wrapped in a TargetInvocationException (the definition is made by reflection).</summary>
    [Fact]
    public Task AHandlerWithoutAJobTypeAttributeFailsTheStartUp() =>
        AssertStartRefused(s => s.AddJobHandler<UnnamedHandler>(), "UnnamedHandler has no [JobType(\"name\")] attribute");

    static async Task AssertStartRefused(Action<IServiceCollection> handlers, string expected)
    {
        await using var database = TestDatabase.Sqlite();
        await using var app = App(database, [], handlers);

        var error = Assert.Throws<JobService.Hosting.StartupRefusedException>(() => app.CreateClient());
        Assert.Contains(expected, error.Message);
    }

    sealed class UnnamedHandler : JobHandler<UnnamedHandler.Payload>
    {
        public sealed record Payload;
        public override Task<object?> ExecuteAsync(Payload payload, IJobContext context) => Task.FromResult<object?>(null);
    }

    [JobType("two_constructors")]
    sealed class TwoConstructorsHandler : JobHandler<TwoConstructorsHandler.Payload>
    {
        public sealed record Payload;
        public TwoConstructorsHandler() { }
        public TwoConstructorsHandler(TimeProvider time) => _ = time;
        public override Task<object?> ExecuteAsync(Payload payload, IJobContext context) => Task.FromResult<object?>(null);
    }

    [Fact]
    public async Task ATypeNameThatIsNotAnIdentifierFailsTheStartUp()
    {
        await using var database = TestDatabase.Sqlite();
        await using var app = App(database, [("Llm:Types:SendEmail:Prompt", "Write an email about {topic}")]);

        var error = Assert.Throws<JobService.Hosting.StartupRefusedException>(() => app.CreateClient());
        Assert.Contains("'SendEmail' is not a valid job type name", error.Message);
    }

    [Theory]
    [InlineData("Database:Provider", "oracle", "Database:Provider")]
    [InlineData("Api:MaxRequestBodyBytes", "10", "Api:MaxRequestBodyBytes")]
    [InlineData("Jobs:Types:echo:MaxAttempts", "0", "Jobs:Types:echo")]
    [InlineData("Logs:Format", "xml", "Logs:Format")]
    [InlineData("Llm:RepairAttempts", "-1", "RepairAttempts")]
    [InlineData("Llm:MaxRetries", "0", "MaxRetries")]
    [InlineData("Llm:Offline:TokensPerSecond", "0", "Llm:Offline:TokensPerSecond")]
    [InlineData("Llm:Providers:local:BaseUrl", "not a url", "Llm:Providers:local:BaseUrl")]
    [InlineData("Llm:DefaultProvider", "openai", "Llm:DefaultProvider: Unknown LLM provider 'openai'. Configured: offline.")]
    // Shorthand the address parser takes for something else (0.0.0.0/8, 0.0.0.10, octal 10.0.0.1), host bits, and every sender.
    [InlineData("Service:TrustedProxies:0", "10/8", "Service:TrustedProxies holds '10/8'")]
    [InlineData("Service:TrustedProxies:0", "10", "Service:TrustedProxies holds '10'")]
    [InlineData("Service:TrustedProxies:0", "012.0.0.1", "Service:TrustedProxies holds '012.0.0.1'")]
    [InlineData("Service:TrustedProxies:0", "10.1.0.0/8", "Service:TrustedProxies holds '10.1.0.0/8'")]
    [InlineData("Service:TrustedProxies:0", "::/0", "ASPNETCORE_FORWARDEDHEADERS_ENABLED")]
    [InlineData("Service:TrustedProxies", "10.0.0.0/8, 0.0.0.0/0", "Service:TrustedProxies holds '0.0.0.0/0'")]
    [InlineData("Webhooks:AllowedPorts", "9000, 90x", "Webhooks:AllowedPorts holds '90x'")]
    public async Task ABadSettingFailsTheStartUpNamingTheKey(string key, string value, string named)
    {
        await using var database = TestDatabase.Sqlite();
        await using var app = App(database, [(key, value)]);

        var error = Assert.ThrowsAny<Exception>(() => app.CreateClient());
        Assert.Contains(named, error is OptionsValidationException o ? string.Join(" ", o.Failures) : error.Message);
    }

    /// <summary>Service:TrustedProxies as a list, or as one comma-separated value (an environment variable's), both taken whole.</summary>
    [Theory]
    [InlineData("Service:TrustedProxies", " 127.0.0.1, fd00::/8 ,10.0.0.0/8")]
    [InlineData("Service:TrustedProxies:0", "127.0.0.1", "Service:TrustedProxies:1", "fd00::/8", "Service:TrustedProxies:2", "10.0.0.0/8")]
    public async Task TrustedProxiesAreReadAsAListOrAsOneCommaSeparatedValue(params string[] pairs)
    {
        await using var database = TestDatabase.Sqlite();
        await using var app = App(database, pairs.Chunk(2).Select(p => (p[0], p[1])).ToArray());
        _ = app.CreateClient();

        var networks = app.Services.GetRequiredService<IOptions<ServiceOptions>>().Value.TrustedProxyNetworks();
        Assert.Equal(["127.0.0.1/32", "fd00::/8", "10.0.0.0/8"], networks.Select(n => n.ToString()));
    }

    /// <summary>Regression: Webhooks__AllowedPorts=9000 (one value, not __0) bound to no list, and callbacks to port 9000 were refused.</summary>
    [Fact]
    public async Task WebhookListsAreReadFromOneCommaSeparatedValue()
    {
        await using var database = TestDatabase.Sqlite();
        await using var app = App(database, [("Webhooks:AllowedPorts", "9000, 8443"), ("Webhooks:AllowedHosts", "hooks.example.com,.example.org")]);
        _ = app.CreateClient();

        var options = app.Services.GetRequiredService<IOptions<JobService.Webhooks.WebhooksOptions>>().Value;
        Assert.Equal([9000, 8443], options.AllowedPorts);
        Assert.Equal(["hooks.example.com", ".example.org"], options.AllowedHosts);
    }

    [Theory]
    [InlineData("POST", "/health/ready")]
    [InlineData("DELETE", "/health/live")]
    public async Task HealthEndpointsAnswerOnlyGet(string method, string path)
    {
        await using var database = TestDatabase.Sqlite();
        await using var app = App(database, [("Service:Role", "api")]);

        var response = await app.CreateClient().SendAsync(new HttpRequestMessage(new HttpMethod(method), path));

        var problem = await response.ShouldBeProblemAsync(System.Net.HttpStatusCode.MethodNotAllowed);
        Assert.Contains(method, problem.Str("detail"));
    }

    /// <summary>
    /// Nothing in the service uses ASP.NET Core's data protection (the dashboard seals its cookie
    /// with the service's own secret): it registers none, whose hosted service read or created a
    /// key ring in the user's profile at every start, ~25 ms of a worker's (docs/benchmarks.md,
    /// thirty-third session). Its API keys still authenticate.
    /// </summary>
    [Fact]
    public async Task TheServiceStartsWithoutADataProtectionKeyRingAndItsKeysStillAuthenticate()
    {
        await using var database = TestDatabase.Sqlite();
        await using var app = App(database, [("Auth:Enabled", "true"), ("Auth:BootstrapAdminKey", AdminKey)]);
        var client = app.CreateClient();

        var anonymous = await client.GetAsync("/jobs");
        client.DefaultRequestHeaders.Authorization = new("Bearer", AdminKey);
        var withKey = await client.GetAsync("/jobs");

        Assert.Equal(System.Net.HttpStatusCode.Unauthorized, anonymous.StatusCode);
        Assert.Equal("application/problem+json", anonymous.Content.Headers.ContentType?.MediaType);
        Assert.Equal(401, (await anonymous.ReadJsonAsync()).GetProperty("status").GetInt32());
        Assert.Equal(System.Net.HttpStatusCode.OK, withKey.StatusCode);
        Assert.Equal(System.Text.Json.JsonValueKind.Array, (await withKey.ReadJsonAsync()).GetProperty("items").ValueKind);
        Assert.Null(app.Services.GetService<Microsoft.AspNetCore.DataProtection.IDataProtectionProvider>());
    }

    const string AdminKey = "jsk_startuptestsadminkey0123456789ab";

    [Fact]
    public async Task PostgresWithoutAConnectionStringFailsTheStartUpNamingTheKey()
    {
        await using var app = new WebApplicationFactory<Program>().WithWebHostBuilder(b =>
        {
            b.UseSetting("Database:Provider", "postgres");
            b.UseSetting("ConnectionStrings:Jobs", "");
        });

        var error = Assert.ThrowsAny<Exception>(() => app.CreateClient());
        Assert.Contains("ConnectionStrings:Jobs", error.ToString());
    }

    /// <summary>
    /// PostgreSQL's JIT recompiled the claim at every execution once the backlog made its estimate
    /// large (half a second a claim at 100,000 pending jobs): the service's sessions run without it,
    /// unless the connection string gives its own startup options.
    /// </summary>
    [Fact]
    public async Task PostgresSessionsRunWithoutJitUnlessTheConnectionStringGivesItsOwnOptions()
    {
        await using var database = await TestDatabase.PostgresOrSkipAsync();
        async Task<string?> ShowJitAsync(Npgsql.NpgsqlConnection connection)
        {
            await using (connection)
            {
                await connection.OpenAsync();
                await using var show = new Npgsql.NpgsqlCommand("SHOW jit", connection);
                return (string?)await show.ExecuteScalarAsync();
            }
        }
        async Task<string?> ServiceJitAsync(params (string, string)[] settings)
        {
            await using var app = App(database, [("Database:Provider", "postgres"), ("Service:Role", "api"), .. settings]);
            return await ShowJitAsync(app.Services.GetRequiredService<Npgsql.NpgsqlDataSource>().CreateConnection());
        }

        Assert.Equal("on", await ShowJitAsync(new Npgsql.NpgsqlConnection(database.ConnectionString))); // the server's default
        Assert.Equal("off", await ServiceJitAsync());
        Assert.Equal("on", await ServiceJitAsync(("ConnectionStrings:Jobs", database.ConnectionString + ";Options=-c statement_timeout=0")));
    }
}
