using JobService.Tests.Infrastructure;
using static Microsoft.Playwright.Assertions;

namespace JobService.Tests.Dashboard;

public abstract partial class DashboardBrowserContract
{
    /// <summary>
    /// Regression: a finished job's page stopped following its job (its stream ends at the end), so
    /// a retry made elsewhere never showed; and its timeline kept one row per attempt number, so
    /// the retried run's attempt 1 overwrote the first run's.
    /// </summary>
    [Fact]
    public async Task AJobsPageFollowsARetryMadeElsewhereAndItsTimelineKeepsBothRuns()
    {
        await using var app = await ServiceAsync();
        var runs = 0;
        var key = Scripts.Add(_ => Interlocked.Increment(ref runs) == 1
            ? Task.FromException<object?>(new InvalidOperationException("the first run breaks"))
            : Task.FromResult<object?>(new { ok = true }));
        var id = await app.SubmitAsync(Scripts.Job(key, maxAttempts: 1));
        await app.WaitForStatusAsync(id, JobService.Data.JobStatus.Failed);
        await using var browser = await DashboardPage.OpenAsync(app.BaseAddress);
        var following = browser.Page.WaitForRequestAsync(r => r.Url.Contains($"/events?job_id={id}", StringComparison.Ordinal));

        await browser.GoAsync($"#/jobs/{id}");
        await Expect(browser.Page.Locator("main#page")).ToHaveAttributeAsync("data-status", "failed");
        await following; // the job's own stream is over; the page listens for it to come back
        var retried = await app.Client.PostAsync($"/jobs/{id}/retry", null); // elsewhere: not the page's button
        retried.EnsureSuccessStatusCode();

        await Expect(browser.Page.Locator("main#page")).ToHaveAttributeAsync("data-status", "completed");
        var rows = browser.Page.Locator("#timeline tr");
        await Expect(rows).ToHaveCountAsync(4);
        await Expect(rows.Nth(0)).ToContainTextAsync("created");
        await Expect(rows.Nth(1)).ToContainTextAsync("1 of 1");
        await Expect(rows.Nth(1)).ToContainTextAsync("failed");
        await Expect(rows.Nth(1)).ToContainTextAsync("the first run breaks");
        await Expect(rows.Nth(2)).ToContainTextAsync("retried");
        await Expect(rows.Nth(3)).ToContainTextAsync("1 of 1");
        await Expect(rows.Nth(3)).ToContainTextAsync("completed");
        Assert.Equal(2, runs);
    }
}
