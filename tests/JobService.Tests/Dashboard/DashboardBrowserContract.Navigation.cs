using Microsoft.Playwright;

namespace JobService.Tests.Dashboard;

public abstract partial class DashboardBrowserContract
{
    /// <summary>Keeps the page's EventSources that are open (made and not closed), for the test to read.</summary>
    const string KeepOpenStreams = """
        (() => {
          const Native = window.EventSource;
          window.openStreams = new Set();
          window.EventSource = class extends Native {
            constructor(url, init) { super(url, init); this.path = new URL(url, location.href); window.openStreams.add(this); }
            close() { window.openStreams.delete(this); super.close(); }
          };
        })();
        """;

    /// <summary>
    /// Regression: a job's page left before its first read answered opened its event stream anyway,
    /// after its stops had run, so nothing ever closed it: a few quick visits took all six of the
    /// browser's connections (the dashboard froze), and the stream wrote its job into the next page.
    /// </summary>
    [Fact]
    public async Task AJobsPageLeftBeforeItsFirstReadAnsweredLeavesNoStreamOpen()
    {
        await using var app = await ServiceAsync();
        var later = DateTime.UtcNow.AddDays(1); // both wait: their streams would stay open
        var first = await app.SubmitAsync(new { type = "echo", payload = new { text = "job-one" }, run_at = later });
        var second = await app.SubmitAsync(new { type = "echo", payload = new { text = "job-two" }, run_at = later });
        await using var browser = await DashboardPage.OpenAsync(app.BaseAddress);
        await browser.Page.AddInitScriptAsync(KeepOpenStreams);
        await browser.GoAsync("#/jobs");
        var asked = new TaskCompletionSource();
        var answer = new TaskCompletionSource();
        await browser.Page.RouteAsync($"**/jobs/{first}", async route =>
        {
            asked.TrySetResult();
            await answer.Task;
            await route.ContinueAsync();
        });

        await browser.Page.EvaluateAsync($"() => {{ location.hash = '#/jobs/{first}'; }}");
        await asked.Task.WaitAsync(TimeSpan.FromSeconds(30));
        await browser.GoAsync("#/jobs"); // left while its read waits
        var answered = browser.Page.WaitForResponseAsync(r => r.Url.EndsWith($"/jobs/{first}", StringComparison.Ordinal));
        answer.SetResult();
        await (await answered).FinishedAsync();
        await browser.GoAsync($"#/jobs/{second}"); // another read and its answer: the first one's was handled before

        var open = await browser.Page.EvaluateAsync<string[]>("() => [...window.openStreams].map(s => s.path.pathname)");
        Assert.Equal([$"/jobs/{second}/events"], open);
        await Microsoft.Playwright.Assertions.Expect(browser.Page.Locator("main#page")).ToContainTextAsync("job-two");
        await Microsoft.Playwright.Assertions.Expect(browser.Page.Locator("main#page")).Not.ToContainTextAsync("job-one");
    }
}
