using JobService.Data;
using JobService.Tests.Infrastructure;
using JobService.Worker;
using Microsoft.Playwright;
using static Microsoft.Playwright.Assertions;

namespace JobService.Tests.Dashboard;

/// <summary>The Overview, Types and Workers pages in the browser: pausing a type, and a killed instance turning lost.</summary>
public abstract partial class DashboardBrowserContract
{
    [Fact]
    public async Task PausingATypeKeepsItsNewJobPendingWhileAnotherTypeRunsAndResumingRunsIt()
    {
        await using var app = await ServiceAsync();
        var warmup = await app.SubmitAsync(new { type = "echo", payload = new { text = "before" } });
        await app.WaitForStatusAsync(warmup, JobStatus.Completed);
        await using var browser = await DashboardPage.OpenAsync(app.BaseAddress);
        var page = browser.Page;
        await browser.GoAsync("#/types");
        var echoRow = page.Locator("tr[data-type=echo]");

        var read = app.Get<PausedTypes>();
        await echoRow.Locator("button[data-action=pause]").ClickAsync();
        await Expect(echoRow).ToHaveAttributeAsync("data-paused", "true");
        await Expect(echoRow.Locator("td.claims")).ToContainTextAsync("paused");
        await read.NextRead.WaitAsync(TimeSpan.FromSeconds(15)); // a read that may have begun before the pause,
        await read.NextRead.WaitAsync(TimeSpan.FromSeconds(15)); // and one that surely began after it
        var waiting = await app.SubmitAsync(new { type = "echo", payload = new { text = "waits" } });
        var other = await app.SubmitAsync(new { type = "greet", payload = new { name = "runs" } });
        await app.WaitForStatusAsync(other, JobStatus.Completed);
        Assert.Equal(JobStatus.Pending, (await app.JobAsync(waiting)).Status); // the claim that ran the greet job passed it over
        await browser.ScreenshotsAsync($"{Provider}-types-paused");

        await echoRow.Locator("button[data-action=resume]").ClickAsync();
        await Expect(echoRow).ToHaveAttributeAsync("data-paused", "false");
        await browser.GoAsync("#/jobs");
        await Expect(page.Locator($"tr[data-job-id='{waiting}']")).ToHaveAttributeAsync("data-status", "completed", new() { Timeout = 30_000 });
        await browser.GoAsync("#/overview");
        await Expect(page.Locator(".card[data-status=completed] b")).ToHaveTextAsync("3");
        // None of these jobs cost anything: the chart's heading said "max $1.00", its scale's floor.
        await Expect(page.Locator("figure.chart h3", new() { HasText = "Cost" })).ToContainTextAsync("max $0.00");
        await browser.ScreenshotsAsync($"{Provider}-overview");
    }

    [Fact]
    public async Task TheWorkersPageListsTwoInstancesAndOneThatIsKilledTurnsLost()
    {
        var beat = new Dictionary<string, string?> { ["Worker:HeartbeatSeconds"] = "1", ["Worker:LeaseSeconds"] = "10", ["Dashboard:StatsRefreshSeconds"] = "1" };
        await using var app = await ServiceAsync(beat);
        _ = app.Client;
        var other = ServiceProcess.Start(new Dictionary<string, string>
        {
            ["Database__Provider"] = app.Database.Provider, ["ConnectionStrings__Jobs"] = app.Database.ConnectionString, ["Service__Role"] = "worker",
        });
        var killed = false;
        try
        {
            await WorkersPageAsync(app, other, () => killed = true);
        }
        finally
        {
            if (!killed) await other.DisposeAsync();
        }
    }

    async Task WorkersPageAsync(WorkerApp app, ServiceProcess other, Action killed)
    {
        await using var browser = await DashboardPage.OpenAsync(app.BaseAddress);
        var page = browser.Page;
        await browser.GoAsync("#/workers");
        var here = page.Locator($"tr[data-worker-id='{app.Get<JobWorker>().WorkerId}']");
        var there = page.Locator("tr[data-worker-id]").Filter(new() { HasNot = page.Locator($"td:text-is('{app.Get<JobWorker>().WorkerId}')") });

        await Expect(page.Locator("tr[data-worker-id]")).ToHaveCountAsync(2, new() { Timeout = 60_000 });
        await Expect(page.Locator("tr[data-worker-id][data-state=active]")).ToHaveCountAsync(2);
        await browser.ScreenshotsAsync($"{Provider}-workers");

        await other.DisposeAsync(); // killed: no drain, no goodbye, its row just stops moving
        killed();

        await Expect(there).ToHaveAttributeAsync("data-state", "lost", new() { Timeout = 15_000 });
        await Expect(here).ToHaveAttributeAsync("data-state", "active");
        await Expect(there.Locator(".badge")).ToHaveTextAsync("lost");
    }
}
