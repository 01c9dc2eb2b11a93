using System.Net;
using System.Net.Http.Json;
using JobService.Tests.Infrastructure;

namespace JobService.Tests.Api;

/// <summary>
/// With auth off there is one implicit tenant: Tenants:MaxActiveJobs keeps tenants apart, so it
/// does not cap the service's own backlog (TenancyContract tests the quota with keys).
/// </summary>
public sealed class QuotaWithoutAuthTests : IAsyncLifetime
{
    WorkerApp _app = null!;

    public ValueTask InitializeAsync()
    {
        _app = new WorkerApp(TestDatabase.Sqlite(), new() { ["Tenants:MaxActiveJobs"] = "2" });
        return ValueTask.CompletedTask;
    }

    public async ValueTask DisposeAsync() => await _app.DisposeAsync();

    [Fact]
    public async Task MoreActiveJobsThanTheQuotaAreAcceptedWhenAuthIsOff()
    {
        var later = DateTime.UtcNow.AddDays(1); // pending the whole test: active
        object Job() => new { type = "echo", payload = new { text = "x" }, run_at = later };

        var batch = await _app.Client.PostAsJsonAsync("/jobs/batch", new { jobs = new[] { Job(), Job(), Job() } });
        var single = await _app.Client.PostAsJsonAsync("/jobs", Job());

        Assert.Equal(HttpStatusCode.Created, batch.StatusCode);
        Assert.Equal(HttpStatusCode.Created, single.StatusCode);
    }
}
