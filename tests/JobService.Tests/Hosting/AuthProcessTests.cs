using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using JobService.Tests.Infrastructure;

namespace JobService.Tests.Hosting;

/// <summary>Auth as an operator meets it: out of the box, refused when exposed, and turned on with a first key.</summary>
public sealed class AuthProcessTests : IDisposable
{
    static readonly TimeSpan Within = TimeSpan.FromSeconds(60);
    static readonly object Greet = new { type = "echo", payload = new { text = "hi" } };
    readonly TempFolder _temp = new();

    Dictionary<string, string> OwnDatabase(out string path)
    {
        path = _temp.NewDatabase("auth");
        return new Dictionary<string, string> { ["ConnectionStrings__Jobs"] = $"Data Source={path}" };
    }

    public void Dispose() => _temp.Dispose();

    /// <summary>The README's first command: auth off on loopback, and a job submitted with no key.</summary>
    [Fact]
    public async Task OutOfTheBoxNoKeyIsNeeded()
    {
        await using var service = ServiceProcess.Start(OwnDatabase(out _));
        await service.WaitUntilReadyAsync(Within);
        using var http = new HttpClient { BaseAddress = new Uri(service.BaseUrl) };

        Assert.Equal(HttpStatusCode.Created, (await http.PostAsJsonAsync("/jobs", Greet)).StatusCode);
    }

    /// <summary>
    /// Refused before it is ready: where it listens is known only once the server started, but no
    /// worker started (before, one did, and could claim a job, as the API could answer, for as long
    /// as the check took).
    /// </summary>
    [Fact]
    public async Task AuthOffOnAnAddressBeyondLoopbackIsRefusedNamingBothSettings()
    {
        await using var service = ServiceProcess.StartOn("0.0.0.0", OwnDatabase(out _));

        Assert.Equal(1, await service.ExitCodeAsync(Within));
        var line = Assert.Single(service.Errors);
        Assert.StartsWith("JobService could not start: ", line);
        Assert.Contains("Auth:Enabled", line);
        Assert.Contains("Auth:AllowAnonymous", line);
        Assert.Contains(service.Output, l => l.Contains("is up to date") || l.Contains("Applying")); // the database was ready first
        Assert.DoesNotContain(service.Output, l => l.Contains("Worker ") && l.Contains(" started: "));
    }

    [Fact]
    public async Task AllowAnonymousServesOpenOnPurpose()
    {
        var environment = OwnDatabase(out _);
        environment["Auth__AllowAnonymous"] = "true";
        await using var service = ServiceProcess.StartOn("0.0.0.0", environment);

        await service.WaitUntilReadyAsync(Within);
    }

    /// <summary>docs/security.md's steps: make a key with the command-line verb, turn auth on, use it.</summary>
    [Fact]
    public async Task AKeyFromTheCommandLineOpensTheServiceWithAuthOn()
    {
        var environment = OwnDatabase(out _);
        await using var maker = ServiceProcess.Start(environment, "create-key", "--tenant", "acme", "--scopes", "jobs:read,jobs:write", "--name", "ci",
            "--Dashboard:SessionHours", "8", "/AllowedHosts=*", "Logging:LogLevel:Default=Warning"); // settings for the host, as any verb takes
        Assert.True(await maker.ExitCodeAsync(Within) == 0, maker.AllText);
        // stdout is the key alone (key=$(… create-key …)); the log, the migration's lines included, is on stderr
        var key = Assert.Single(maker.Output);
        Assert.StartsWith("jsk_", key);
        Assert.Contains(maker.Errors, l => l.Contains("not shown again"));
        Assert.Contains(maker.Errors, l => l.Contains("is up to date") || l.Contains("Applying"));

        environment["Auth__Enabled"] = "true";
        await using var service = ServiceProcess.Start(environment);
        await service.WaitUntilReadyAsync(Within);
        using var http = new HttpClient { BaseAddress = new Uri(service.BaseUrl) };
        Assert.Equal(HttpStatusCode.Unauthorized, (await http.GetAsync("/jobs")).StatusCode);
        http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", key);
        Assert.Equal(HttpStatusCode.Created, (await http.PostAsJsonAsync("/jobs", Greet)).StatusCode);
        var listed = await (await http.GetAsync("/jobs")).Content.ReadFromJsonAsync<System.Text.Json.JsonElement>();
        Assert.Equal(1, listed.GetProperty("total").GetInt32()); // acme's own job
    }

    /// <summary>Regression: a flag create-key does not take was ignored (--expires 30d made a key that never expires).</summary>
    [Fact]
    public async Task CreateKeyRefusesAFlagItDoesNotTake()
    {
        var environment = OwnDatabase(out _);
        await using var maker = ServiceProcess.Start(environment, "create-key", "--tenant", "acme", "--scopes", "jobs:read", "--expires", "30d");

        Assert.True(await maker.ExitCodeAsync(Within) == 2, maker.AllText);
        Assert.Contains(maker.Errors, l => l.Contains("does not take --expires"));
        Assert.DoesNotContain(maker.Output, l => l.StartsWith("jsk_", StringComparison.Ordinal));
    }

    /// <summary>
    /// Regression: a bad tenant or scope printed only the usage line, not which argument was wrong;
    /// and the database was migrated before the arguments were read.
    /// </summary>
    [Fact]
    public async Task CreateKeySaysWhichArgumentIsWrong()
    {
        var environment = OwnDatabase(out var path);
        await using var maker = ServiceProcess.Start(environment, "create-key", "--tenant", "bad tenant!", "--scopes", "jobs:read,jobs:bogus");

        Assert.True(await maker.ExitCodeAsync(Within) == 2, maker.AllText);
        Assert.Contains(maker.Errors, l => l.StartsWith("--tenant 'bad tenant!' is not a tenant name", StringComparison.Ordinal));
        Assert.Contains(maker.Errors, l => l == "--scopes: 'jobs:bogus' is not a scope.");
        Assert.DoesNotContain(maker.Output, l => l.StartsWith("jsk_", StringComparison.Ordinal));
        Assert.False(File.Exists(path), "the arguments are read before the database is touched");
    }

    /// <summary>
    /// docs/security.md's "behind a proxy": with ASP.NET Core's own switch on, a TLS-terminating
    /// proxy's X-Forwarded-Proto makes the dashboard's cookie Secure (without it the service sees
    /// plain HTTP and the cookie would travel over it).
    /// </summary>
    [Fact]
    public async Task BehindAProxyThatSaysHttpsTheDashboardCookieIsSecure()
    {
        var environment = OwnDatabase(out _);
        environment["Auth__Enabled"] = "true";
        environment["Auth__BootstrapAdminKey"] = AuthApp.AdminKey;
        environment["ASPNETCORE_FORWARDEDHEADERS_ENABLED"] = "true";
        await using var service = ServiceProcess.Start(environment);
        await service.WaitUntilReadyAsync(Within);
        using var http = new HttpClient { BaseAddress = new Uri(service.BaseUrl) };

        async Task<string> SignInCookieAsync(string? proto)
        {
            var request = new HttpRequestMessage(HttpMethod.Post, "/dashboard/session") { Content = JsonContent.Create(new { key = AuthApp.AdminKey }) };
            if (proto is not null) request.Headers.Add("X-Forwarded-Proto", proto);
            var response = await http.SendAsync(request);
            Assert.True(response.StatusCode == HttpStatusCode.NoContent, await response.Content.ReadAsStringAsync());
            return Assert.Single(response.Headers.GetValues("Set-Cookie"));
        }

        Assert.Contains("secure", await SignInCookieAsync("https"), StringComparison.OrdinalIgnoreCase);
        Assert.DoesNotContain("secure", await SignInCookieAsync(null), StringComparison.OrdinalIgnoreCase);
    }

    /// <summary>
    /// Service:TrustedProxies: the forwarded scheme and client address of a listed proxy are believed
    /// (the cookie is Secure, the request log names the client); an unlisted sender's are not (before,
    /// the only way was ASP.NET's switch, which believes them from anyone).
    /// </summary>
    [Theory]
    [InlineData("127.0.0.1", true)]
    [InlineData("::1,127.0.0.0/8", true)]
    [InlineData("10.9.8.0/24", false)]
    public async Task OnlyATrustedProxysForwardedHeadersAreBelieved(string proxies, bool believed)
    {
        var environment = OwnDatabase(out _);
        environment["Auth__Enabled"] = "true";
        environment["Auth__BootstrapAdminKey"] = AuthApp.AdminKey;
        environment["Logs__Format"] = "json";
        if (proxies.Contains(',')) environment["Service__TrustedProxies"] = proxies; // one value, as an environment variable is most easily given
        else environment["Service__TrustedProxies__0"] = proxies;
        await using var service = ServiceProcess.Start(environment);
        await service.WaitUntilReadyAsync(Within);
        using var http = new HttpClient { BaseAddress = new Uri(service.BaseUrl) };

        var request = new HttpRequestMessage(HttpMethod.Post, "/dashboard/session") { Content = JsonContent.Create(new { key = AuthApp.AdminKey }) };
        request.Headers.Add("X-Forwarded-Proto", "https");
        request.Headers.Add("X-Forwarded-For", "203.0.113.7");
        var response = await http.SendAsync(request);

        Assert.True(response.StatusCode == HttpStatusCode.NoContent, await response.Content.ReadAsStringAsync());
        Assert.Equal(believed, Assert.Single(response.Headers.GetValues("Set-Cookie")).Contains("secure", StringComparison.OrdinalIgnoreCase));
        await service.WaitForOutputAsync("responded 204", Within);
        var logged = service.Output.Select(l => System.Text.Json.JsonDocument.Parse(l).RootElement)
            .Single(l => l.GetProperty("@m").GetString()!.StartsWith("HTTP POST /dashboard/session", StringComparison.Ordinal));
        Assert.Equal(believed ? "203.0.113.7" : "127.0.0.1", logged.GetProperty("ClientAddress").GetString());
    }

    [Fact]
    public async Task ATrustedProxyThatIsNoAddressStopsTheStartNamingTheSetting()
    {
        var environment = OwnDatabase(out _);
        environment["Service__TrustedProxies__0"] = "proxy.internal";
        await using var service = ServiceProcess.Start(environment);

        Assert.Equal(1, await service.ExitCodeAsync(Within));
        var line = Assert.Single(service.Errors);
        Assert.StartsWith("JobService could not start: Service:TrustedProxies holds 'proxy.internal'", line); // the sentence, not the framework's wrapper
    }
}
