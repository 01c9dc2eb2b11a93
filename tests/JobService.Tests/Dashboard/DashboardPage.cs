using System.Collections.Concurrent;
using JobService.Tests.Infrastructure;
using Microsoft.Playwright;

namespace JobService.Tests.Dashboard;

/// <summary>
/// The dashboard in Debian's Chromium against a real service (Kestrel on loopback): the page, the
/// requests it makes once a test starts listening, and screenshots under artifacts/screenshots.
/// </summary>
public sealed class DashboardPage : IAsyncDisposable
{
    readonly IPlaywright _playwright;
    readonly IBrowser _browser;
    readonly ConcurrentQueue<string> _requests = new();
    volatile bool _recording;

    DashboardPage(IPlaywright playwright, IBrowser browser, IPage page, Uri service)
    {
        _playwright = playwright;
        _browser = browser;
        Page = page;
        Service = service;
        page.Request += (_, request) => { if (_recording) _requests.Enqueue(new Uri(request.Url).PathAndQuery); };
    }

    public IPage Page { get; }
    public Uri Service { get; }

    /// <summary>A browser at 1280 × 900 (or <paramref name="width"/>), not yet on any page.</summary>
    public static async Task<DashboardPage> OpenAsync(Uri service, int width = 1280, int height = 900)
    {
        var (playwright, browser) = await Infrastructure.Browser.LaunchAsync();
        // A context of its own (not NewPageAsync's hidden one), so that a test can open a second tab in it: same cookies.
        var context = await browser.NewContextAsync(new BrowserNewContextOptions { ViewportSize = new ViewportSize { Width = width, Height = height } });
        var page = await context.NewPageAsync();
        return new DashboardPage(playwright, browser, page, service);
    }

    /// <summary>Goes to a dashboard page (#/jobs, #/jobs/{id}, …) and waits until it has drawn what it read.</summary>
    public async Task GoAsync(string hash)
    {
        await Page.GotoAsync(new Uri(Service, $"/dashboard/{hash}").ToString());
        await Assertions.Expect(Page.Locator("main#page")).ToHaveAttributeAsync("data-route", hash); // not the page before a hash change
        await ReadyAsync();
    }

    public Task ReadyAsync() => Assertions.Expect(Page.Locator("main#page")).ToHaveAttributeAsync("data-ready", "true");

    /// <summary>From now on, every request the page makes is kept (path and query).</summary>
    public void RecordRequests() => _recording = true;

    public IReadOnlyList<string> Requests => _requests.ToList();

    /// <summary>The page in the light and the dark theme, as artifacts/screenshots/{name}-{light|dark}.png.</summary>
    public async Task ScreenshotsAsync(string name)
    {
        foreach (var scheme in new[] { ColorScheme.Light, ColorScheme.Dark })
        {
            await Page.EmulateMediaAsync(new PageEmulateMediaOptions { ColorScheme = scheme });
            await Page.ScreenshotAsync(new PageScreenshotOptions { Path = Screenshots.PathOf($"{name}-{scheme.ToString().ToLowerInvariant()}.png"), FullPage = true });
        }
        await Page.EmulateMediaAsync(new PageEmulateMediaOptions { ColorScheme = ColorScheme.Light });
    }

    public async ValueTask DisposeAsync()
    {
        await _browser.DisposeAsync();
        _playwright.Dispose();
    }
}

/// <summary>Where the browser tests put their screenshots: artifacts/screenshots at the repository root (git-ignored; CI keeps it).</summary>
public static class Screenshots
{
    public static string Folder { get; } = Find();

    public static string PathOf(string file) => System.IO.Path.Combine(Folder, file);

    static string Find()
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir is not null && !File.Exists(System.IO.Path.Combine(dir.FullName, "JobService.sln"))) dir = dir.Parent;
        var folder = System.IO.Path.Combine(dir?.FullName ?? System.IO.Path.GetTempPath(), "artifacts", "screenshots");
        Directory.CreateDirectory(folder);
        return folder;
    }
}
