using System.Net.Http.Json;
using System.Text.Json;
using JobService.Tests.Infrastructure;
using Microsoft.EntityFrameworkCore;
using Microsoft.Playwright;
using static Microsoft.Playwright.Assertions;

namespace JobService.Tests.Dashboard;

/// <summary>Filters and bulk actions in the browser: the counts the page shows are what the API did.</summary>
public abstract partial class DashboardBrowserContract
{
    [Fact]
    public async Task FiltersByStatusAndPayloadThenRetriesAllTwoHundredFailedJobsThroughAllMatching()
    {
        await using var app = await ServiceAsync(new() { ["Dashboard:StatsRefreshSeconds"] = "5", ["Worker:Concurrency"] = "20" });
        var fails = Scripts.Add(_ => throw new Handlers.NonRetryableJobException("the provider said no"));
        var batch = Enumerable.Range(0, 200).Select(_ => new { type = "scripted", payload = new { key = fails }, max_attempts = 1 }).ToList();
        Assert.Equal(System.Net.HttpStatusCode.Created, (await app.Client.PostAsJsonAsync("/jobs/batch", new { jobs = batch })).StatusCode);
        var fantasy = new List<Guid>();
        foreach (var theme in new[] { "fantasy", "fantasy", "scifi", "fantasy" })
        {
            var id = await app.SubmitAsync(new { type = "generate_characters", payload = new { theme, count = 1 } });
            if (theme == "fantasy") fantasy.Add(id);
        }
        await WaitAsync(app, "failed", 200);
        await using var browser = await DashboardPage.OpenAsync(app.BaseAddress);
        var page = browser.Page;

        // The payload filter, typed into the form.
        await browser.GoAsync("#/jobs");
        await page.Locator("form.filters input[name=payload]").FillAsync("theme=fantasy");
        await page.Locator("form.filters button[type=submit]").ClickAsync();
        await browser.ReadyAsync();
        await Expect(page.Locator("tr[data-job-id]")).ToHaveCountAsync(3);
        Assert.Equal(fantasy.Select(i => i.ToString()).Order(), (await page.Locator("tr[data-job-id]").EvaluateAllAsync<string[]>("rows => rows.map(r => r.dataset.jobId)")).Order());
        await Expect(page.Locator(".total")).ToHaveTextAsync("3 matching");
        await browser.ScreenshotsAsync($"{Provider}-jobs-filtered");

        // By status: 200 failed, 50 to a page; then "all 200 matching" and retry them.
        await browser.GoAsync("#/jobs?status=failed");
        await Expect(page.Locator(".total")).ToHaveTextAsync("200 matching");
        await Expect(page.Locator("tr[data-job-id]")).ToHaveCountAsync(50);
        await page.GetByLabel("Select every job on this page").CheckAsync();
        await page.GetByRole(AriaRole.Button, new() { Name = "Select all 200 matching" }).ClickAsync();
        await Expect(page.Locator(".bulk .selected")).ToHaveTextAsync("200 selected");
        await page.Locator(".bulk button[data-action=retry]").ClickAsync();
        var dialog = page.Locator("dialog.confirm");
        await Expect(dialog.Locator("li[data-status=failed]")).ToHaveAttributeAsync("data-count", "200");
        await Expect(dialog.Locator(".will")).ToHaveTextAsync("200 will be retried.");
        await browser.ScreenshotsAsync($"{Provider}-bulk-confirm");
        await dialog.GetByRole(AriaRole.Button, new() { Name = "Retry 200" }).ClickAsync();

        var result = page.Locator(".bulk .result");
        await Expect(result).ToHaveAttributeAsync("data-affected", "200", new() { Timeout = 30_000 });
        await Expect(result).ToHaveAttributeAsync("data-matched", "200");
        await Expect(result).ToHaveAttributeAsync("data-skipped", "0");
        // What the page showed is what happened: every one of the 200 was queued again by the bulk retry, through the seam.
        await using var db = app.Database.CreateContext();
        var retried = await db.JobEvents.CountAsync(e => e.Message == "Queued again by POST /jobs/bulk/retry, with 1 attempt(s)");
        Assert.Equal(200, retried);
    }

    /// <summary>Waits, change by change, until the API counts <paramref name="count"/> jobs of <paramref name="status"/>.</summary>
    static Task WaitAsync(WorkerApp app, string status, int count) =>
        app.Changes.UntilAsync(() => app.Client.GetFromJsonAsync<JsonElement>($"/jobs?status={status}&limit=1"),
            page => page.GetProperty("total").GetInt32() == count, TimeSpan.FromSeconds(60),
            page => $"{page.GetProperty("total")} {status} jobs, not {count}");
}
