using JobService.Tests.Infrastructure;
using Microsoft.Playwright;
using static Microsoft.Playwright.Assertions;

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
        await Expect(browser.Page.Locator("main#page")).ToContainTextAsync("job-two");
        await Expect(browser.Page.Locator("main#page")).Not.ToContainTextAsync("job-one");
    }

    /// <summary>
    /// Regression: a view of failed jobs said "new jobs may match" for every job submitted (all
    /// pending), and said nothing when a job it did not list failed.
    /// </summary>
    [Fact]
    public async Task AViewOfFailedJobsSaysMoreMayMatchWhenAJobFailsNotWhenOneIsSubmitted()
    {
        await using var app = await ServiceAsync();
        var secondRun = new TaskCompletionSource();
        var runs = 0;
        var key = Scripts.Add(async ctx =>
        {
            if (Interlocked.Increment(ref runs) == 1) throw new InvalidOperationException("the first run breaks");
            await secondRun.Task.WaitAsync(ctx.CancellationToken); // held running: the list's marker
            return null;
        });
        var listed = await app.SubmitAsync(Scripts.Job(key, maxAttempts: 1));
        await app.WaitForStatusAsync(listed, JobService.Data.JobStatus.Failed);
        await using var browser = await DashboardPage.OpenAsync(app.BaseAddress);
        await browser.GoAsync("#/jobs?status=failed");
        var notice = browser.Page.Locator("p.notice");

        await app.SubmitAsync(new { type = "echo", payload = new { text = "later" }, run_at = DateTime.UtcNow.AddDays(1) });
        (await app.Client.PostAsync($"/jobs/{listed}/retry", null)).EnsureSuccessStatusCode();
        // Its row running means the page has applied the events before it, the new pending job's among them.
        await Expect(browser.Page.Locator($"tr[data-job-id='{listed}']")).ToHaveAttributeAsync("data-status", "running");
        await Expect(notice).ToBeHiddenAsync();

        var failing = Scripts.Add(_ => Task.FromException<object?>(new InvalidOperationException("breaks")));
        await app.SubmitAsync(Scripts.Job(failing, maxAttempts: 1));
        await Expect(notice).ToBeVisibleAsync();
        await Expect(notice).ToContainTextAsync("More jobs may match this filter now.");
        secondRun.SetResult();
    }
}
