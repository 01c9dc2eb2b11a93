using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using JobService.Tests.Infrastructure;

namespace JobService.Tests.Api;

/// <summary>
/// A page of another site posting to the service (auth off, as on a developer's machine): the
/// browser says so in Sec-Fetch-Site, and the request changes nothing.
/// </summary>
public sealed class CrossSiteTests
{
    static async Task<bool> PausedAsync(WorkerApp app, string type) =>
        (await app.Client.GetFromJsonAsync<JsonElement>("/job-types")).EnumerateArray()
            .Single(t => t.GetProperty("type").GetString() == type).TryGetProperty("paused", out var paused) && paused.ValueKind != JsonValueKind.Null;

    [Fact]
    public async Task AChangeSentByAPageOfAnotherSiteIsRefusedAndReadsAreNot()
    {
        await using var app = new WorkerApp(TestDatabase.Sqlite(), new() { ["Service:Role"] = "api" });

        foreach (var site in new[] { "cross-site", "same-site" })
        {
            var pause = new HttpRequestMessage(HttpMethod.Post, "/job-types/echo/pause");
            pause.Headers.Add("Sec-Fetch-Site", site);
            var problem = await (await app.Client.SendAsync(pause)).ShouldBeProblemAsync(HttpStatusCode.Forbidden);
            Assert.Contains($"Sec-Fetch-Site: {site}", problem.GetProperty("detail").GetString());
        }
        Assert.False(await PausedAsync(app, "echo"));
        var read = new HttpRequestMessage(HttpMethod.Get, "/jobs");
        read.Headers.Add("Sec-Fetch-Site", "cross-site");
        Assert.Equal(HttpStatusCode.OK, (await app.Client.SendAsync(read)).StatusCode); // without CORS headers the page cannot read it

        var own = new HttpRequestMessage(HttpMethod.Post, "/job-types/echo/pause"); // the dashboard's own page
        own.Headers.Add("Sec-Fetch-Site", "same-origin");
        Assert.Equal(HttpStatusCode.OK, (await app.Client.SendAsync(own)).StatusCode);
        Assert.True(await PausedAsync(app, "echo"));
    }

    /// <summary>
    /// Regression, as a helper found it: a page at about:blank in Chromium paused a type and rotated
    /// the webhook secret with a no-cors fetch (it cannot read the answer, and did not need to).
    /// </summary>
    [Fact]
    public async Task APageOfAnotherOriginInARealBrowserChangesNothing()
    {
        await using var app = new WorkerApp(TestDatabase.Sqlite(), new() { ["Service:Role"] = "api" }, realClock: true, kestrel: true);
        _ = app.Client;
        var (playwright, browser) = await Infrastructure.Browser.LaunchAsync();
        await using var _b = browser;
        using var _p = playwright;
        var page = await browser.NewPageAsync(); // about:blank: an origin of its own

        await page.EvaluateAsync("url => fetch(url, { method: 'POST', mode: 'no-cors' })", new Uri(app.BaseAddress, "/job-types/echo/pause").ToString());
        await page.EvaluateAsync("url => fetch(url, { method: 'POST', mode: 'no-cors' })", new Uri(app.BaseAddress, "/webhook-secret/rotate").ToString());

        Assert.False(await PausedAsync(app, "echo"));
        Assert.Equal(HttpStatusCode.NotFound, (await app.Client.GetAsync("/webhook-secret")).StatusCode); // no secret was made
    }
}
