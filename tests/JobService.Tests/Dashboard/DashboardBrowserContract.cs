using System.Net.Http.Json;
using System.Text.Json;
using JobService.Data;
using JobService.Tests.Infrastructure;
using Microsoft.EntityFrameworkCore;
using Microsoft.Playwright;
using static Microsoft.Playwright.Assertions;

namespace JobService.Tests.Dashboard;

/// <summary>
/// The dashboard in a real browser against the whole service (API and workers, real clock, real
/// HTTP), on each provider: live lists and details from the event streams, filters, bulk actions,
/// pausing a type. Screenshots of each page in both themes go to artifacts/screenshots.
/// </summary>
public abstract partial class DashboardBrowserContract
{
    protected abstract Task<TestDatabase> DatabaseAsync();
    protected abstract string Provider { get; }

    /// <summary>Quick offline model calls with frequent progress and output writes, so a job visibly moves for a few seconds.</summary>
    protected static Dictionary<string, string?> LiveSettings(int tokensPerSecond = 40) => new()
    {
        ["Llm:Offline:TokensPerSecond"] = tokensPerSecond.ToString(), ["Worker:ProgressIntervalMs"] = "200", ["Events:OutputFlushMs"] = "100",
        ["Dashboard:StatsRefreshSeconds"] = "1",
    };

    protected async Task<WorkerApp> ServiceAsync(Dictionary<string, string?>? settings = null) =>
        new(await DatabaseAsync(), settings ?? LiveSettings(), realClock: true, kestrel: true);

    /// <summary>Records every width a row's progress bar is given (the page sets it through the CSSOM as events arrive).</summary>
    const string WatchBars = """
        () => {
          window.widths = {};
          new MutationObserver(changes => {
            for (const c of changes) {
              const row = c.target.closest?.('tr[data-job-id]');
              if (!row || !c.target.classList.contains('fill')) continue;
              const seen = window.widths[row.dataset.jobId] ??= [];
              seen.push(c.target.style.width);
              row.dataset.moves = seen.length; // for the test to wait on (the page's CSP forbids evaluating strings)
            }
          }).observe(document.getElementById('page'), { subtree: true, attributes: true, attributeFilter: ['style'] });
        }
        """;

    [Fact]
    public async Task TheJobsListMovesARunningJobsBarAndTurnsItCompletedWithoutAReloadOrAPoll()
    {
        await using var app = await ServiceAsync();
        var earlier = new[]
        {
            await app.SubmitAsync(new { type = "generate_characters", payload = new { theme = "fantasy", count = 2 } }),
            await app.SubmitAsync(new { type = "echo", payload = new { text = "hello" } }),
        };
        foreach (var done in earlier) await app.WaitForStatusAsync(done, JobStatus.Completed);
        await using var browser = await DashboardPage.OpenAsync(app.BaseAddress);
        await browser.GoAsync("#/jobs");
        await browser.Page.EvaluateAsync(WatchBars);
        browser.RecordRequests();

        var id = await app.SubmitAsync(new { type = "text_generation", payload = new { prompt = "A story about queues", max_tokens = 120 } });

        var row = browser.Page.Locator($"tr[data-job-id='{id}']");
        await Expect(row).ToHaveAttributeAsync("data-status", "running", new() { Timeout = 30_000 });
        await Expect(row).ToHaveAttributeAsync("data-moves", new System.Text.RegularExpressions.Regex("^([4-9]|[1-9][0-9]+)$"), new() { Timeout = 30_000 }); // mid-way, for the picture
        await browser.ScreenshotsAsync($"{Provider}-jobs");
        await Expect(row).ToHaveAttributeAsync("data-status", "completed", new() { Timeout = 60_000 });
        await Expect(row.Locator(".badge")).ToHaveTextAsync("completed");
        var widths = (await browser.Page.EvaluateAsync<string[]>($"window.widths['{id}'] ?? []")).Distinct().ToList();
        Assert.True(widths.Count >= 3, $"the bar took these widths: {string.Join(", ", widths)}");
        Assert.Equal("100%", widths[^1]);
        Assert.Equal(widths.Select(Percent).Order(), widths.Select(Percent)); // it only moved forward
        // No reload, no polling: once the page was drawn, only the event stream's reconnects (none expected)
        // and the periodic counts. The counts did refresh (every second here) while the job ran.
        var requests = browser.Requests;
        Assert.All(requests, r => Assert.Matches(@"^/(events(\?.*)?|jobs/stats(\?.*)?)$", r));
        Assert.Contains(requests, r => r.StartsWith("/jobs/stats", StringComparison.Ordinal));
        Assert.Equal(1, await browser.Page.EvaluateAsync<int>("performance.getEntriesByType('navigation').length"));
    }

    static double Percent(string width) => double.Parse(width.TrimEnd('%'), System.Globalization.CultureInfo.InvariantCulture);

    [Fact]
    public async Task TheDetailPageShowsTheLogAndTheModelsTextGrowingThenTheResult()
    {
        await using var app = await ServiceAsync(LiveSettings(tokensPerSecond: 30));
        await using var browser = await DashboardPage.OpenAsync(app.BaseAddress);
        var id = await app.SubmitAsync(new { type = "text_generation", payload = new { prompt = "A story about queues", max_tokens = 120 } });

        await browser.GoAsync($"#/jobs/{id}");
        await browser.Page.EvaluateAsync("""
            () => {
              window.lengths = [];
              const output = document.getElementById('output');
              new MutationObserver(() => window.lengths.push(output.textContent.length)).observe(output, { childList: true, characterData: true, subtree: true });
            }
            """);
        await Expect(browser.Page.Locator("#log li").First).ToBeVisibleAsync();
        await Expect(browser.Page.Locator("main#page")).ToHaveAttributeAsync("data-status", "running", new() { Timeout = 30_000 });
        await Expect(browser.Page.Locator("#output")).Not.ToBeEmptyAsync();
        await browser.ScreenshotsAsync($"{Provider}-job-running");
        await Expect(browser.Page.Locator("main#page")).ToHaveAttributeAsync("data-status", "completed", new() { Timeout = 60_000 });

        var job = await app.WaitForStatusAsync(id, JobStatus.Completed);
        var text = JsonDocument.Parse(job.Result!).RootElement.GetProperty("text").GetString()!;
        await Expect(browser.Page.Locator("#result")).ToHaveTextAsync(text);
        await Expect(browser.Page.Locator("#output")).ToHaveTextAsync(text);
        var lengths = (await browser.Page.EvaluateAsync<int[]>("window.lengths")).Distinct().ToList();
        Assert.True(lengths.Count >= 3 && lengths.SequenceEqual(lengths.Order()), $"the text grew through these lengths: {string.Join(", ", lengths)}");
        // The log shows the job's story as the API tells it, line for line.
        var logged = await app.LogsAsync(id);
        await Expect(browser.Page.Locator("#log li")).ToHaveCountAsync(logged.Count);
        await Expect(browser.Page.Locator("#log li").Last).ToContainTextAsync(logged[^1].Message!);
        await Expect(browser.Page.Locator("#log")).ToContainTextAsync("Claimed by worker");
        // The log's level filter and search, in the page.
        await browser.Page.GetByLabel("Search the log").FillAsync("claimed by");
        await Expect(browser.Page.Locator("#log li")).ToHaveCountAsync(logged.Count(l => l.Message!.Contains("Claimed by", StringComparison.OrdinalIgnoreCase)));
        await browser.Page.GetByLabel("Search the log").FillAsync("");
        await browser.Page.GetByLabel("Log level").SelectOptionAsync("warning");
        await Expect(browser.Page.Locator("#log li")).ToHaveCountAsync(logged.Count(l => l.Level == "warning"));
        await browser.Page.GetByLabel("Log level").SelectOptionAsync("all");
        await browser.ScreenshotsAsync($"{Provider}-job-completed");

        // Clone and resubmit: the editor checks the payload against the type's schema before anything is sent.
        await browser.Page.Locator(".actions button[data-action=clone]").ClickAsync();
        var editor = browser.Page.GetByLabel("Payload (JSON)");
        await editor.FillAsync("""{"prompt": "Again", "max_tokens": "many"}""");
        await Expect(browser.Page.Locator("form.clone .error li")).ToContainTextAsync("payload.max_tokens: must be integer or null");
        await Expect(browser.Page.Locator("form.clone button[type=submit]")).ToBeDisabledAsync();
        await editor.FillAsync("""{"prompt": "Again", "max_tokens": 20, "colour": "red"}""");
        await Expect(browser.Page.Locator("form.clone .error li")).ToContainTextAsync("payload.colour: not a field of this type");
        await editor.FillAsync("""{"prompt": "Again", "max_tokens": 20}""");
        await browser.Page.Locator("form.clone button[type=submit]").ClickAsync();
        await Expect(browser.Page).Not.ToHaveURLAsync(new System.Text.RegularExpressions.Regex(id.ToString())); // the new job's page
        await Expect(browser.Page.Locator("#payload")).ToContainTextAsync("\"prompt\": \"Again\"");
        Assert.Equal(2, (await app.Client.GetFromJsonAsync<JsonElement>("/jobs?type=text_generation")).GetProperty("total").GetInt32());
    }

    /// <summary>Every page at a phone's width: nothing wider than the screen (tables scroll inside their box).</summary>
    [Fact]
    public async Task AtAPhonesWidthEveryPageFitsTheScreen()
    {
        await using var app = await ServiceAsync();
        var id = await app.SubmitAsync(new { type = "generate_characters", payload = new { theme = "fantasy", count = 2 } });
        await app.WaitForStatusAsync(id, JobStatus.Completed);
        await using var browser = await DashboardPage.OpenAsync(app.BaseAddress, width: 390, height: 844);

        foreach (var (hash, name) in new[] { ("#/overview", "overview"), ("#/jobs", "jobs"), ($"#/jobs/{id}", "job"), ("#/types", "types"), ("#/workers", "workers") })
        {
            await browser.GoAsync(hash);
            var overflow = await browser.Page.EvaluateAsync<int>("document.documentElement.scrollWidth - window.innerWidth");
            Assert.True(overflow <= 0, $"{name} is {overflow} px wider than a 390 px screen");
            await browser.ScreenshotsAsync($"{Provider}-phone-{name}");
        }
    }
}


public sealed class SqliteDashboardBrowserTests : DashboardBrowserContract
{
    protected override Task<TestDatabase> DatabaseAsync() => Task.FromResult(TestDatabase.Sqlite());
    protected override string Provider => "sqlite";
}

public sealed class PostgresDashboardBrowserTests : DashboardBrowserContract
{
    protected override async Task<TestDatabase> DatabaseAsync() =>
        await PostgresApp.PostgresOrSkipAsync(reason => Assert.Skip(reason)) ?? throw new InvalidOperationException("no database");
    protected override string Provider => "postgres";
}
