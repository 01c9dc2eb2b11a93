using System.Text.Json;
using JobService.Data;
using JobService.Tests.Infrastructure;
using Microsoft.AspNetCore.Hosting;
using Microsoft.Extensions.DependencyInjection;
using static Microsoft.Playwright.Assertions;

namespace JobService.Tests.Docs;

/// <summary>The browser sample of docs/events.md, taken from the page as it is, run in Chromium.</summary>
public sealed class EventsSampleTests
{
    static string Sample()
    {
        var root = Path.GetFullPath(Path.Combine(AppContext.BaseDirectory, "../../../../.."));
        return File.ReadAllText(Path.Combine(root, "docs/events.md")).Split("```js\n")[1].Split("```")[0];
    }

    /// <summary>The elements the sample writes to, its <c>jobId</c> from the query string, then the sample.</summary>
    static string Page() => $$"""
        <!doctype html><meta charset="utf-8"><title>docs/events.md</title>
        <progress max="100"></progress><p id="status"></p><pre id="text"></pre><pre id="log"></pre>
        <script>const jobId = new URLSearchParams(location.search).get('job');</script>
        <script>{{Sample()}}</script>
        """;

    static string Text(Job job) => JsonDocument.Parse(job.Result!).RootElement.GetProperty("text").GetString()!;

    /// <summary>Regression: for a job finished before the page opened (its stream is one snapshot), the sample never showed the result.</summary>
    [Fact]
    public async Task TheSampleShowsAFinishedJobsResultAndFollowsARunningJobToItsResult()
    {
        await using var app = new WorkerApp(TestDatabase.Sqlite(), new()
        {
            ["Llm:Offline:TokensPerSecond"] = "40", ["Worker:ProgressIntervalMs"] = "200", ["Events:OutputFlushMs"] = "100",
        }, realClock: true, kestrel: true, configure: s => s.AddSingleton<IStartupFilter>(new ServedPage("/test/sample.html", Page())));
        var (playwright, browser) = await Infrastructure.Browser.LaunchAsync();
        using var _ = playwright;
        await using var __ = browser;
        var page = await browser.NewPageAsync();
        Task Open(Guid id) => page.GotoAsync(new Uri(app.BaseAddress, $"/test/sample.html?job={id}").ToString());

        var finished = await app.SubmitAsync(new { type = "text_generation", payload = new { prompt = "A short one", max_tokens = 20 } });
        var done = await app.WaitForStatusAsync(finished, JobStatus.Completed);
        await Open(finished);
        await Expect(page.Locator("#status")).ToHaveTextAsync("completed");
        await Expect(page.Locator("#text")).ToHaveTextAsync(Text(done));
        Assert.Equal(100, await page.Locator("progress").EvaluateAsync<double>("p => p.value"));

        // The type paused, so that the page is open (its snapshot drawn) before the job starts.
        await app.PauseAsync("text_generation");
        var later = await app.SubmitAsync(new { type = "text_generation", payload = new { prompt = "A story about queues", max_tokens = 60 } });
        await Open(later);
        await Expect(page.Locator("#status")).ToHaveTextAsync("Waiting for a worker");
        (await app.Client.PostAsync("/job-types/text_generation/resume", null)).EnsureSuccessStatusCode();
        await Expect(page.Locator("#status")).ToHaveTextAsync("completed", new() { Timeout = 60_000 });
        await Expect(page.Locator("#text")).ToHaveTextAsync(Text(await app.WaitForStatusAsync(later, JobStatus.Completed)));
        await Expect(page.Locator("#log")).ToContainTextAsync("Claimed by worker");
    }
}
