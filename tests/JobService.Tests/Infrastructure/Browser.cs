using Microsoft.Playwright;

namespace JobService.Tests.Infrastructure;

/// <summary>
/// Debian's Chromium driven by Playwright (never a downloaded browser). Where it is not
/// installed the browser tests are skipped on a developer's machine and fail under CI.
/// </summary>
public static class Browser
{
    public const string Chromium = "/usr/bin/chromium";

    public static async Task<(IPlaywright Playwright, IBrowser Browser)> LaunchAsync()
    {
        if (!File.Exists(Chromium))
        {
            var reason = $"No {Chromium}: install Debian's Chromium (apt-get install chromium) to run the browser tests.";
            if (TestDatabase.IsCi) throw new InvalidOperationException($"CI=true: the browser tests must run here. {reason}");
            Assert.Skip(reason);
        }
        var playwright = await Microsoft.Playwright.Playwright.CreateAsync();
        var browser = await playwright.Chromium.LaunchAsync(new BrowserTypeLaunchOptions
        {
            ExecutablePath = Chromium,
            Headless = true,
            // Root in a container needs --no-sandbox; the rest keep Chromium off a network it cannot reach.
            Args = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
                "--disable-component-update", "--disable-sync"],
        });
        return (playwright, browser);
    }
}
