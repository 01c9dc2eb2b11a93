using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.TestHost;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Time.Testing;

namespace JobService.Tests.Infrastructure;

/// <summary>
/// The API with auth on, a bootstrap admin key, small limits (so that a test reaches them in a
/// few requests) and a fake clock (so that key caching and token expiry move only when a test
/// says). Each test makes keys for tenants of its own, so tests never share a limit or a job.
/// </summary>
public abstract class AuthApp : TestApp
{
    public const string AdminKey = "jsk_TestBootstrapAdminKey0123456789a";
    public const int SubmitBurst = 8, StreamsPerKey = 2, MaxActiveJobs = 50, KeyCacheSeconds = 30;

    public FakeTimeProvider Time { get; } = new(DateTimeOffset.UtcNow);

    protected AuthApp()
    {
        Settings["Auth:Enabled"] = "true";
        Settings["Auth:BootstrapAdminKey"] = AdminKey;
        Settings["Auth:KeyCacheSeconds"] = KeyCacheSeconds.ToString();
        Settings["RateLimits:SubmitBurst"] = SubmitBurst.ToString();
        Settings["RateLimits:SubmitPerMinute"] = "1"; // no refill while a test runs
        Settings["RateLimits:StreamsPerKey"] = StreamsPerKey.ToString();
        Settings["Tenants:MaxActiveJobs"] = MaxActiveJobs.ToString();
        Settings["Events:PollFallbackSeconds"] = "1"; // an open stream looks again (and asks whether its caller still may) every second
    }

    protected override void ConfigureWebHost(IWebHostBuilder builder)
    {
        base.ConfigureWebHost(builder);
        builder.ConfigureTestServices(services => services.AddSingleton<TimeProvider>(Time));
    }

    /// <summary>A client that sends this key (or none).</summary>
    public HttpClient ClientWith(string? key)
    {
        var client = CreateClient();
        if (key is not null) client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", key);
        return client;
    }

    /// <summary>A new key (through POST /api-keys with the admin key): the key and its id.</summary>
    public async Task<(string Key, Guid Id)> NewKeyAsync(string tenant, params string[] scopes)
    {
        var response = await ClientWith(AdminKey).PostAsJsonAsync("/api-keys", new { name = $"test {tenant}", tenant_id = tenant, scopes });
        Assert.Equal(System.Net.HttpStatusCode.Created, response.StatusCode);
        var body = await response.Content.ReadFromJsonAsync<JsonElement>();
        return (body.GetProperty("key").GetString()!, body.GetProperty("details").GetProperty("id").GetGuid());
    }
}

public sealed class SqliteAuthApp : AuthApp
{
    protected override Task<TestDatabase?> CreateDatabaseAsync(Action<string> skip) => Task.FromResult<TestDatabase?>(TestDatabase.Sqlite());
}

public sealed class PostgresAuthApp : AuthApp
{
    protected override Task<TestDatabase?> CreateDatabaseAsync(Action<string> skip) => PostgresApp.PostgresOrSkipAsync(skip);
}
