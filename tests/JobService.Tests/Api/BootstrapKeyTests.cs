using System.Net.Http.Json;
using JobService.Auth;
using JobService.Data;
using JobService.Hosting;
using JobService.Tests.Infrastructure;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.TestHost;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

namespace JobService.Tests.Api;

/// <summary>
/// Auth:BootstrapAdminKey is in the database by the time the service says it is ready: a
/// deployment that waits for /health/ready and then uses the key must not get a 401 (the key was
/// stored after the host had started, a moment after readiness). A background service of the
/// test's waits for readiness and looks at once.
/// </summary>
public sealed class BootstrapKeyTests
{
    [Fact]
    public async Task TheBootstrapKeyIsStoredBeforeTheServiceIsReady()
    {
        await using var app = new ReadinessObservedApp();
        await app.InitializeAsync(); // its database

        _ = app.Services; // starts the host

        Assert.True(await app.KeyStoredAtReady.Task, "the service was ready before its bootstrap key was stored");
        Assert.Equal(System.Net.HttpStatusCode.OK, (await app.ClientWith(AuthApp.AdminKey).GetAsync("/api-keys")).StatusCode);
    }

    /// <summary>Regression: a rotated bootstrap key was stored again at the next start (the setting still named it), and worked.</summary>
    [Fact]
    public async Task ARotatedBootstrapKeyIsNotStoredAgainAtTheNextStart()
    {
        await using var app = new SqliteAuthApp();
        await app.InitializeAsync();
        var admin = app.ClientWith(AuthApp.AdminKey);
        var bootstrap = (await admin.GetFromJsonAsync<System.Text.Json.JsonElement>("/api-keys?tenant_id=default")).EnumerateArray().Single();
        Assert.Equal(System.Net.HttpStatusCode.OK, (await admin.PostAsync($"/api-keys/{bootstrap.GetProperty("id").GetGuid()}/rotate", null)).StatusCode);

        await ApiKeysApi.KeepBootstrapKeyAsync(app.Services, AuthApp.AdminKey, CancellationToken.None); // what the next start does

        await using var scope = app.Services.CreateAsyncScope();
        var hash = KeyMaterial.Hash(AuthApp.AdminKey);
        Assert.False(await scope.ServiceProvider.GetRequiredService<JobsDbContext>().ApiKeys.AnyAsync(k => k.KeyHash == hash));
    }

    /// <summary>Regression: instances started together each stored the key (check, then insert), and revoking one row left the other working.</summary>
    [Fact]
    public async Task InstancesStoringTheBootstrapKeyAtOnceStoreItOnce()
    {
        await using var app = new SqliteAuthApp();
        await app.InitializeAsync();
        var key = KeyMaterial.NewKey();

        await Task.WhenAll(Enumerable.Range(0, 8).Select(_ => Task.Run(() => ApiKeysApi.KeepBootstrapKeyAsync(app.Services, key, CancellationToken.None))));

        await using var scope = app.Services.CreateAsyncScope();
        var hash = KeyMaterial.Hash(key);
        Assert.Equal(1, await scope.ServiceProvider.GetRequiredService<JobsDbContext>().ApiKeys.CountAsync(k => k.KeyHash == hash));
    }

    sealed class ReadinessObservedApp : AuthApp
    {
        public TaskCompletionSource<bool> KeyStoredAtReady { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        protected override Task<TestDatabase?> CreateDatabaseAsync(Action<string> skip) => Task.FromResult<TestDatabase?>(TestDatabase.Sqlite());

        protected override void ConfigureWebHost(IWebHostBuilder builder)
        {
            base.ConfigureWebHost(builder);
            builder.ConfigureTestServices(services => services.AddHostedService(sp => new Observer(sp, KeyStoredAtReady)));
        }
    }

    /// <summary>A background loop, as every reader of readiness is: it is said once the host has started, which a StartAsync would hold up.</summary>
    sealed class Observer(IServiceProvider services, TaskCompletionSource<bool> result) : BackgroundService
    {
        protected override async Task ExecuteAsync(CancellationToken ct)
        {
            if (!await services.GetRequiredService<DatabaseReady>().WaitAsync(ct)) { result.SetResult(false); return; }
            await using var scope = services.CreateAsyncScope();
            var hash = KeyMaterial.Hash(AuthApp.AdminKey);
            result.SetResult(await scope.ServiceProvider.GetRequiredService<JobsDbContext>().ApiKeys.AnyAsync(k => k.KeyHash == hash, ct));
        }
    }
}
