using System.Net;
using JobService.Tests.Infrastructure;

namespace JobService.Tests.Dashboard;

/// <summary>The README's run command serves the dashboard; with auth off it is served only on loopback unless said otherwise.</summary>
public sealed class DashboardProcessTests : IDisposable
{
    static readonly TimeSpan Within = TimeSpan.FromSeconds(60);
    readonly TempFolder _temp = new();

    public void Dispose() => _temp.Dispose();

    Dictionary<string, string> OwnDatabase() => new() { ["ConnectionStrings__Jobs"] = $"Data Source={_temp.NewDatabase("dash")}" };

    /// <summary>
    /// /health/ready turns healthy as the migration commits, a moment before the API stops answering
    /// 503 "starting up": wait for the API itself.
    /// </summary>
    static async Task ServingAsync(ServiceProcess service)
    {
        await service.WaitUntilReadyAsync(Within);
        using var http = new HttpClient { BaseAddress = new Uri(service.BaseUrl) };
        // Ready means this process has started (not only that its database is migrated): no 503 after it.
        Assert.NotEqual(HttpStatusCode.ServiceUnavailable, (await http.GetAsync("/jobs")).StatusCode);
    }

    [Fact]
    public async Task TheBinaryServesTheDashboardOnLoopbackWithNothingElseInstalled()
    {
        await using var service = ServiceProcess.Start(OwnDatabase());
        await ServingAsync(service);
        using var http = new HttpClient { BaseAddress = new Uri(service.BaseUrl) };

        var redirect = await new HttpClient(new HttpClientHandler { AllowAutoRedirect = false }) { BaseAddress = new Uri(service.BaseUrl) }.GetAsync("/dashboard");
        Assert.Equal(HttpStatusCode.Redirect, redirect.StatusCode);
        Assert.Equal("/dashboard/", redirect.Headers.Location?.ToString());
        var page = await http.GetAsync("/dashboard/");
        Assert.Equal(HttpStatusCode.OK, page.StatusCode);
        Assert.Contains("js/app.js", await page.Content.ReadAsStringAsync());
        Assert.Contains("default-src 'self'", page.Headers.GetValues("Content-Security-Policy").Single());
        var script = await http.GetAsync("/dashboard/js/pages/jobs.js");
        Assert.Equal(HttpStatusCode.OK, script.StatusCode);
        Assert.Equal("text/javascript", script.Content.Headers.ContentType?.MediaType);
    }

    [Fact]
    public async Task WithAuthOffBeyondLoopbackTheDashboardIsRefusedUnlessAllowedOnPurpose()
    {
        var environment = OwnDatabase();
        environment["Auth__AllowAnonymous"] = "true"; // the API open on purpose; the dashboard has its own say
        await using (var refused = ServiceProcess.StartOn("0.0.0.0", environment))
        {
            await ServingAsync(refused);
            using var http = new HttpClient { BaseAddress = new Uri(refused.BaseUrl) };
            var problem = await (await http.GetAsync("/dashboard/")).ShouldBeProblemAsync(HttpStatusCode.Forbidden);
            Assert.Contains("Dashboard:AllowAnonymous", problem.Str("detail"));
            Assert.Equal(HttpStatusCode.OK, (await http.GetAsync("/jobs")).StatusCode);
        }

        environment["Dashboard__AllowAnonymous"] = "true";
        await using var allowed = ServiceProcess.StartOn("0.0.0.0", environment);
        await ServingAsync(allowed);
        using var open = new HttpClient { BaseAddress = new Uri(allowed.BaseUrl) };
        Assert.Equal(HttpStatusCode.OK, (await open.GetAsync("/dashboard/")).StatusCode);
    }
}
