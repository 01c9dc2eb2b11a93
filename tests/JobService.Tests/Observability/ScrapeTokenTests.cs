using System.Net;
using System.Net.Http.Headers;
using JobService.Tests.Infrastructure;

namespace JobService.Tests.Observability;

/// <summary>GET /metrics behind Metrics:ScrapeToken, a Bearer token Prometheus sends (authorization.credentials).</summary>
public sealed class ScrapeTokenTests
{
    static WorkerApp Start(Dictionary<string, string?> settings)
    {
        var app = new WorkerApp(TestDatabase.Sqlite(), settings);
        _ = app.Client;
        return app;
    }

    static Task<HttpResponseMessage> ScrapeAsync(WorkerApp app, string? token)
    {
        var request = new HttpRequestMessage(HttpMethod.Get, "/metrics");
        if (token is not null) request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
        return app.Client.SendAsync(request);
    }

    [Fact]
    public async Task WithAuthOnAScrapeWithoutTheTokenIsRefusedAndOneWithItIsServed()
    {
        await using var app = Start(new() { ["Auth:Enabled"] = "true", ["Metrics:ScrapeToken"] = "scrape-7f3c9a" });

        var without = await ScrapeAsync(app, null);
        var wrong = await ScrapeAsync(app, "scrape-7f3c9b");
        var with = await ScrapeAsync(app, "scrape-7f3c9a");

        var problem = await without.ShouldBeProblemAsync(HttpStatusCode.Unauthorized);
        Assert.Contains("Metrics:ScrapeToken", problem.Str("detail"));
        Assert.Equal("Bearer", without.Headers.WwwAuthenticate.Single().Scheme);
        Assert.DoesNotContain("jobservice_", await without.Content.ReadAsStringAsync());
        await wrong.ShouldBeProblemAsync(HttpStatusCode.Unauthorized);
        Assert.Equal(HttpStatusCode.OK, with.StatusCode);
        Assert.Contains("jobservice_worker_slots", await with.Content.ReadAsStringAsync());
    }

    [Fact]
    public async Task WithAuthOnAndNoTokenConfiguredEveryScrapeIsRefused()
    {
        await using var app = Start(new() { ["Auth:Enabled"] = "true" });

        var problem = await (await ScrapeAsync(app, "anything")).ShouldBeProblemAsync(HttpStatusCode.Unauthorized);

        Assert.Contains("Metrics:ScrapeToken is not set", problem.Str("detail"));
    }

    [Fact]
    public async Task WithAuthOffATokenStillGuardsTheScrapeAndNoTokenLeavesItOpenLikeTheApi()
    {
        await using var guarded = Start(new() { ["Metrics:ScrapeToken"] = "scrape-7f3c9a" });
        await using var open = Start(new());

        await (await ScrapeAsync(guarded, null)).ShouldBeProblemAsync(HttpStatusCode.Unauthorized);
        Assert.Equal(HttpStatusCode.OK, (await ScrapeAsync(guarded, "scrape-7f3c9a")).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await ScrapeAsync(open, null)).StatusCode);
    }

    /// <summary>
    /// A worker-only node has no route that asks for a key, so it has no authentication at all
    /// (AuthSetup.AddJobServiceAuth): its scrape is still behind the token, and its probes open.
    /// </summary>
    [Fact]
    public async Task OnAWorkerOnlyNodeWithAuthOnTheScrapeNeedsTheTokenAndTheProbesNothing()
    {
        await using var app = Start(new() { ["Service:Role"] = "worker", ["Auth:Enabled"] = "true", ["Metrics:ScrapeToken"] = "scrape-7f3c9a" });

        await (await ScrapeAsync(app, null)).ShouldBeProblemAsync(HttpStatusCode.Unauthorized);
        await (await ScrapeAsync(app, "scrape-7f3c9b")).ShouldBeProblemAsync(HttpStatusCode.Unauthorized);
        Assert.Equal(HttpStatusCode.OK, (await ScrapeAsync(app, "scrape-7f3c9a")).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await app.Client.GetAsync("/health/live")).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await app.Client.GetAsync("/health/ready")).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await app.Client.GetAsync("/jobs")).StatusCode); // the API is another node's
    }

    /// <summary>
    /// Of ASP.NET Core's meters, the scrape has the ones docs/observability.md lists (routing's among
    /// them), not .NET 10's authentication, authorization and memory pool meters, which measure every
    /// request and which no documented metric reads. With auth on, a refused request is authenticated
    /// and authorized, so those meters would have counted it.
    /// </summary>
    [Fact]
    public async Task OfAspNetCoresMetersTheScrapeHasTheDocumentedOnesOnly()
    {
        await using var app = Start(new() { ["Auth:Enabled"] = "true", ["Metrics:ScrapeToken"] = "scrape-7f3c9a" });
        await (await app.Client.GetAsync("/jobs")).ShouldBeProblemAsync(HttpStatusCode.Unauthorized);

        var scrape = PrometheusText.Parse(await (await ScrapeAsync(app, "scrape-7f3c9a")).Content.ReadAsStringAsync());

        Assert.Contains("aspnetcore_routing_match_attempts_total", scrape.Types.Keys);
        Assert.DoesNotContain(scrape.Types.Keys, name =>
            name.StartsWith("aspnetcore_authentication_") || name.StartsWith("aspnetcore_authorization_") || name.StartsWith("aspnetcore_memory_pool_"));
    }

    [Fact]
    public async Task WithPrometheusOffThereIsNoScrapeEndpoint()
    {
        await using var app = Start(new() { ["Metrics:Prometheus:Enabled"] = "false" });

        Assert.Equal(HttpStatusCode.NotFound, (await ScrapeAsync(app, null)).StatusCode);
    }
}
