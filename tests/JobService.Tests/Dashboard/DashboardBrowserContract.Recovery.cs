using System.Net.Http.Json;
using System.Text.Json;
using JobService.Data;
using JobService.Tests.Infrastructure;
using Microsoft.Playwright;
using static Microsoft.Playwright.Assertions;

namespace JobService.Tests.Dashboard;

/// <summary>The pages through refused streams, long sessions and redraws: what an operator met in a walk-through.</summary>
public abstract partial class DashboardBrowserContract
{
    /// <summary>Counts the times the page shows its "interrupted" notice (p.stream-cut losing its hidden attribute).</summary>
    const string CountCuts = """
        () => {
          window.cuts = 0;
          new MutationObserver(changes => { for (const c of changes) if (c.target.matches?.('p.stream-cut') && !c.target.hidden) window.cuts++; })
            .observe(document.getElementById('page'), { subtree: true, attributes: true, attributeFilter: ['hidden'] });
        }
        """;

    /// <summary>A slow model's jobs, whose streams the server ends every second (the browser reconnects after 200 ms).</summary>
    static Dictionary<string, string?> StreamsEndingEverySecond()
    {
        var settings = LiveSettings(tokensPerSecond: 20);
        settings["Events:MaxStreamSeconds"] = "1";
        settings["Events:RetryMs"] = "200";
        return settings;
    }

    /// <summary>
    /// Regression: a job's stream whose reconnect met a 503 (a restarting instance, the database
    /// away) was closed by the browser for good, and the page went on showing "running" with
    /// nothing said. The server ends the stream every second here; the browser's own reconnect is
    /// refused once; the page opens it again from its last event and says so meanwhile.
    /// </summary>
    [Fact]
    public async Task AJobsStreamRefusedOnReconnectIsOpenedAgainFromItsLastEventAndThePageSaysSoMeanwhile()
    {
        await using var app = await ServiceAsync(StreamsEndingEverySecond());
        await using var browser = await DashboardPage.OpenAsync(app.BaseAddress);
        var id = await app.SubmitAsync(new { type = "text_generation", payload = new { prompt = "A story about queues", max_tokens = 80 } });
        var (asked, refused) = (0, 0);
        var urls = new System.Collections.Concurrent.ConcurrentQueue<string>();
        await browser.Page.RouteAsync($"**/jobs/{id}/events**", async route =>
        {
            urls.Enqueue(route.Request.Url);
            if (Interlocked.Increment(ref asked) == 2 && Interlocked.Exchange(ref refused, 1) == 0) // the browser's own first reconnect
                await route.FulfillAsync(new() { Status = 503, ContentType = "application/problem+json", Body = """{"title":"Service unavailable","status":503}""" });
            else await route.ContinueAsync();
        });

        await browser.GoAsync($"#/jobs/{id}");
        await browser.Page.EvaluateAsync(CountCuts);
        await Expect(browser.Page.Locator("main#page")).ToHaveAttributeAsync("data-status", "completed", new() { Timeout = 60_000 });

        Assert.True(refused == 1, $"the stream was asked for {asked} time(s): {string.Join(", ", urls)}");
        Assert.True(await browser.Page.EvaluateAsync<int>("window.cuts") >= 1, "the page never said its updates were interrupted");
        await Expect(browser.Page.Locator("p.stream-cut")).ToBeHiddenAsync();
        var reopened = urls.Where(u => u.Contains("last_event_id=", StringComparison.Ordinal) && !u.Contains("last_event_id=0", StringComparison.Ordinal));
        Assert.NotEmpty(reopened); // from the last event it had, not from the start again
        // Nothing twice, nothing missed: one claim in the timeline, the log line for line as the API tells it.
        await Expect(browser.Page.Locator("#timeline tr")).ToHaveCountAsync(2); // created, attempt 1
        var logged = await app.LogsAsync(id);
        await Expect(browser.Page.Locator("#log li")).ToHaveCountAsync(logged.Count);
        await Expect(browser.Page.Locator("#output")).ToHaveTextAsync(JsonDocument.Parse((await app.JobAsync(id)).Result!).RootElement.GetProperty("text").GetString()!);
    }

    /// <summary>
    /// A job's stream that is refused for good (here a 404 for every resume: as a job that ended
    /// unseen gets a 204, or one deleted a 404) is not retried for ever: the page reads the job,
    /// and once it has ended shows it afresh, finished. The job runs until a resume was refused
    /// (a job that ended inside the page's first stream would never meet what this tests).
    /// </summary>
    [Fact]
    public async Task AJobsStreamRefusedForGoodShowsTheJobAfreshOnceItEnded()
    {
        await using var app = await ServiceAsync(StreamsEndingEverySecond());
        await using var browser = await DashboardPage.OpenAsync(app.BaseAddress);
        var refusedOnce = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var id = await app.SubmitAsync(Scripts.Job(Scripts.Add(async ctx =>
        {
            await ctx.ReportProgressAsync(50, "Waiting for the page's stream to be refused");
            await refusedOnce.Task.WaitAsync(ctx.CancellationToken);
            return new { text = "done" };
        })));
        var asked = 0;
        await browser.Page.RouteAsync($"**/jobs/{id}/events**", async route =>
        {
            // The page's first stream and a page shown afresh start at last_event_id=0; the browser's
            // own reconnect (the 2nd request) and every resume are refused.
            var n = Interlocked.Increment(ref asked);
            if (n != 2 && route.Request.Url.EndsWith("last_event_id=0", StringComparison.Ordinal)) await route.ContinueAsync();
            else
            {
                await route.FulfillAsync(new() { Status = 404, ContentType = "application/problem+json", Body = """{"title":"Not found","status":404}""" });
                refusedOnce.TrySetResult();
            }
        });

        await browser.GoAsync($"#/jobs/{id}");
        await refusedOnce.Task.WaitAsync(TimeSpan.FromSeconds(60));
        await app.WaitForStatusAsync(id, JobStatus.Completed);

        await Expect(browser.Page.Locator("main#page")).ToHaveAttributeAsync("data-status", "completed", new() { Timeout = 60_000 });
        await Expect(browser.Page.Locator("p.stream-cut")).ToBeHiddenAsync();
    }

    /// <summary>
    /// Regressions: the Jobs page added every new job at its top without a limit (1,050 rows on a
    /// page of 50 after a batch, and "Older →" then repeated them), and a list of pending jobs said
    /// "More jobs may match this filter now" as it opened, for the pending jobs on later pages.
    /// </summary>
    [Fact]
    public async Task TheJobsPageHoldsFiftyRowsAsJobsArriveAndOpensWithoutAFalseNotice()
    {
        await using var app = await ServiceAsync();
        async Task SubmitAsync(int n) => Assert.Equal(System.Net.HttpStatusCode.Created, (await app.Client.PostAsJsonAsync("/jobs/batch", new
        {
            jobs = Enumerable.Range(0, n).Select(i => new { type = "echo", payload = new { text = $"job {i}" }, run_at = DateTime.UtcNow.AddDays(1) }),
        })).StatusCode);
        await SubmitAsync(60);
        await using var browser = await DashboardPage.OpenAsync(app.BaseAddress);

        await browser.GoAsync("#/jobs?status=pending");
        var rows = browser.Page.Locator("tr[data-job-id]");
        await Expect(rows).ToHaveCountAsync(50);
        await Expect(browser.Page.Locator("p.notice")).ToBeHiddenAsync(); // drawn with the stream's opening list applied

        await browser.GoAsync("#/jobs");
        await SubmitAsync(30);
        await Expect(browser.Page.Locator(".foot .total")).ToHaveTextAsync("90 matching");
        await Expect(rows).ToHaveCountAsync(50);
        await Expect(browser.Page.Locator(".pager")).ToContainTextAsync("1–50 of 90");
    }

    /// <summary>
    /// Regression: the Types page drew its table again every refresh, and the pause length chosen
    /// went back to "until resumed": "Pause" then paused the type for good.
    /// </summary>
    [Fact]
    public async Task APauseLengthChosenOnTheTypesPageOutlivesItsRefresh()
    {
        await using var app = await ServiceAsync(); // the table is drawn again every second here
        await using var browser = await DashboardPage.OpenAsync(app.BaseAddress);
        await browser.GoAsync("#/types");
        var table = browser.Page.Locator("table.types");
        await browser.Page.EvaluateAsync("""
            () => { const table = document.querySelector('table.types'); table.dataset.draws = 0;
                    new MutationObserver(() => table.dataset.draws++).observe(table.querySelector('tbody'), { childList: true }); }
            """);
        var echo = browser.Page.Locator("tr[data-type=echo]");

        await echo.GetByLabel("Pause echo for").SelectOptionAsync("60");
        await browser.Page.EvaluateAsync("() => { document.querySelector('table.types').dataset.draws = 0; }"); // redraws after the choice
        await Expect(table).ToHaveAttributeAsync("data-draws", new System.Text.RegularExpressions.Regex("^([2-9]|[1-9][0-9]+)$"));
        await Expect(echo.GetByLabel("Pause echo for")).ToHaveValueAsync("60");
        await echo.Locator("button[data-action=pause]").ClickAsync();

        await Expect(echo).ToHaveAttributeAsync("data-paused", "true");
        var paused = (await app.Client.GetFromJsonAsync<JsonElement[]>("/job-types"))!.Single(t => t.GetProperty("type").GetString() == "echo").GetProperty("paused");
        var until = paused.GetProperty("until").GetDateTime();
        Assert.InRange(until, DateTime.UtcNow.AddMinutes(55), DateTime.UtcNow.AddMinutes(61));
    }

    /// <summary>
    /// Regressions: a job's page said "Started: —" until the job ended (the claim's event did not
    /// set it), and a cancelled job still said its cancel was "requested: the handler is being stopped".
    /// </summary>
    [Fact]
    public async Task AJobsPageShowsItsStartWhenClaimedAndNoCancelUnderWayOnceCancelled()
    {
        await using var app = await ServiceAsync();
        var key = Scripts.Add(async ctx => { await new TaskCompletionSource().Task.WaitAsync(ctx.CancellationToken); return null; }); // runs until cancelled
        await app.PauseAsync("scripted");
        var id = await app.SubmitAsync(Scripts.Job(key, maxAttempts: 1));
        await using var browser = await DashboardPage.OpenAsync(app.BaseAddress);
        await browser.GoAsync($"#/jobs/{id}");
        var page = browser.Page.Locator("main#page");
        await Expect(browser.Page.Locator("#started")).ToHaveTextAsync("—");

        (await app.Client.PostAsync("/job-types/scripted/resume", null)).EnsureSuccessStatusCode();
        await Expect(page).ToHaveAttributeAsync("data-status", "running", new() { Timeout = 30_000 });
        await Expect(browser.Page.Locator("#started time")).ToBeVisibleAsync();
        await Expect(browser.Page.Locator("#started time")).ToHaveAttributeAsync("datetime", new System.Text.RegularExpressions.Regex("^20"));

        await browser.Page.Locator(".actions button[data-action=cancel]").ClickAsync();
        await Expect(page).ToHaveAttributeAsync("data-status", "cancelled", new() { Timeout = 30_000 });
        await Expect(browser.Page.Locator(".job-head dl")).Not.ToContainTextAsync("being stopped");
        Assert.Equal(JobStatus.Cancelled, (await app.JobAsync(id)).Status);
    }
}
