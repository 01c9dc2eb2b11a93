using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json;
using JobService.Tests.Infrastructure;
using Microsoft.Playwright;
using static Microsoft.Playwright.Assertions;

namespace JobService.Tests.Dashboard;

/// <summary>With auth on: the sign-in page, a read-only key's dashboard without buttons, and the server's own refusals.</summary>
public abstract partial class DashboardBrowserContract
{
    const string AdminKey = "jsk_DashboardBrowserAdminKey01234567";
    static readonly System.Text.RegularExpressions.Regex SignInPage = new("/dashboard/signin\\.html(\\?ended)?(#.*)?$");

    /// <summary>The whole service with auth on, <see cref="AdminKey"/> its first admin.</summary>
    async Task<WorkerApp> AuthServiceAsync()
    {
        var settings = LiveSettings();
        settings["Auth:Enabled"] = "true";
        settings["Auth:BootstrapAdminKey"] = AdminKey;
        return await ServiceAsync(settings);
    }

    async Task<string> NewKeyAsync(WorkerApp app, params string[] scopes)
    {
        using var admin = new HttpClient { BaseAddress = app.BaseAddress };
        admin.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", AdminKey);
        var response = await admin.PostAsJsonAsync("/api-keys", new { name = "dashboard test", tenant_id = "acme", scopes });
        Assert.Equal(System.Net.HttpStatusCode.Created, response.StatusCode);
        return (await response.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("key").GetString()!;
    }

    /// <summary>Signs in on the sign-in page (where a browser without a session lands: <paramref name="open"/> goes there first).</summary>
    static async Task SignInAsync(DashboardPage browser, string key, bool open = true)
    {
        if (open) await browser.Page.GotoAsync(new Uri(browser.Service, "/dashboard/").ToString());
        await Expect(browser.Page).ToHaveURLAsync(SignInPage); // no session: the shell sends the browser to sign in
        await browser.Page.GetByLabel("API key").FillAsync(key);
        await browser.Page.GetByRole(AriaRole.Button, new() { Name = "Sign in" }).ClickAsync();
        await browser.ReadyAsync();
    }

    /// <summary>A request the page's own script could make: same origin, the session cookie attached; the status it got.</summary>
    static Task<int> FetchAsync(IPage page, string method, string path, bool withToken) => page.EvaluateAsync<int>("""
        async ([method, path, withToken]) => {
          const session = await (await fetch('session')).json();
          const headers = { 'Content-Type': 'application/json' };
          if (withToken) headers['X-Dashboard-Token'] = session.antiforgery_token;
          return (await fetch(path, { method, headers, body: method === 'POST' ? '{}' : undefined })).status;
        }
        """, new object[] { method, path, withToken });

    [Fact]
    public async Task WithAuthOnAReadOnlyKeySeesNoButtonsAndTheServerRefusesWhatItForges()
    {
        await using var app = await AuthServiceAsync();
        var writer = await NewKeyAsync(app, "jobs:read", "jobs:write", "events:read");
        var reader = await NewKeyAsync(app, "jobs:read", "events:read");
        using var api = new HttpClient { BaseAddress = app.BaseAddress };
        api.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", writer);
        var pending = await api.PostAsJsonAsync("/jobs", new { type = "echo", payload = new { text = "hi" }, run_at = "2099-01-01T00:00:00Z" });
        var id = (await pending.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("id").GetGuid();
        await using var browser = await DashboardPage.OpenAsync(app.BaseAddress);
        var page = browser.Page;

        await page.GotoAsync(new Uri(app.BaseAddress, "/dashboard/").ToString());
        await Expect(page).ToHaveURLAsync(SignInPage);
        await Expect(page.GetByLabel("API key")).ToBeVisibleAsync();
        await browser.ScreenshotsAsync($"{Provider}-signin");
        await SignInAsync(browser, reader);
        await browser.GoAsync("#/jobs");
        await Expect(page.Locator($"tr[data-job-id='{id}']")).ToBeVisibleAsync();
        await Expect(page.Locator(".bulk")).ToHaveCountAsync(0);
        await Expect(page.Locator("input.row-box")).ToHaveCountAsync(0);
        await browser.GoAsync($"#/jobs/{id}");
        await Expect(page.Locator(".actions button")).ToHaveCountAsync(0);
        // What the page does not offer, the server refuses: 403 naming the scope, token or not.
        Assert.Equal(403, await FetchAsync(page, "POST", $"/jobs/{id}/cancel", withToken: true));
        Assert.Equal(403, await FetchAsync(page, "POST", "/jobs/bulk/cancel", withToken: true));
        Assert.Equal(403, await FetchAsync(page, "POST", "/job-types/echo/pause", withToken: true));

        await page.GetByRole(AriaRole.Button, new() { Name = "Sign out" }).ClickAsync();
        await SignInAsync(browser, writer, open: false); // signing out lands on the sign-in page
        await browser.GoAsync($"#/jobs/{id}");
        await Expect(page.Locator(".actions button[data-action=cancel]")).ToBeVisibleAsync();
        // A change that comes with the cookie but without the antiforgery token: 400, and nothing changed.
        Assert.Equal(400, await FetchAsync(page, "POST", $"/jobs/{id}/cancel", withToken: false));
        Assert.Equal("pending", (await api.GetFromJsonAsync<JsonElement>($"/jobs/{id}")).GetProperty("status").GetString());
        await page.Locator(".actions button[data-action=cancel]").ClickAsync();
        await Expect(page.Locator("main#page")).ToHaveAttributeAsync("data-status", "cancelled");
        Assert.Equal("cancelled", (await api.GetFromJsonAsync<JsonElement>($"/jobs/{id}")).GetProperty("status").GetString());
    }

    /// <summary>
    /// Regressions: a tab signed out in another tab stayed on its page, toasting errors, instead of
    /// going to sign in, which then neither said why nor went back to the page; and a key that may
    /// not read jobs signed in to blank pages.
    /// </summary>
    [Fact]
    public async Task ATabSignedOutElsewhereGoesToSignInAndAKeyThatMayNotReadJobsIsToldWhy()
    {
        await using var app = await AuthServiceAsync();
        var reader = await NewKeyAsync(app, "jobs:read");
        var eventsOnly = await NewKeyAsync(app, "events:read");
        await using var browser = await DashboardPage.OpenAsync(app.BaseAddress);
        await SignInAsync(browser, reader);
        await browser.GoAsync("#/jobs");

        var other = await browser.Page.Context.NewPageAsync(); // the same browser's second tab, the same cookie
        await other.GotoAsync(new Uri(app.BaseAddress, "/dashboard/").ToString());
        await other.GetByRole(AriaRole.Button, new() { Name = "Sign out" }).ClickAsync();
        await Expect(other).ToHaveURLAsync(SignInPage);

        await Expect(browser.Page).ToHaveURLAsync(SignInPage); // at its next read (the counts, every second here)
        await Expect(browser.Page.Locator("#error")).ToContainTextAsync("Your session ended");
        await browser.Page.GetByLabel("API key").FillAsync(eventsOnly);
        await browser.Page.GetByRole(AriaRole.Button, new() { Name = "Sign in" }).ClickAsync();
        await Expect(browser.Page.Locator("#error")).ToHaveTextAsync("The dashboard shows jobs: this API key lacks the scope 'jobs:read'.");
        await Expect(browser.Page).ToHaveURLAsync(SignInPage);
        await browser.Page.GetByLabel("API key").FillAsync(reader);
        await browser.Page.GetByRole(AriaRole.Button, new() { Name = "Sign in" }).ClickAsync();
        await Expect(browser.Page).ToHaveURLAsync(new System.Text.RegularExpressions.Regex("/dashboard/#/jobs$")); // back where it was
        await browser.ReadyAsync();
    }

    /// <summary>An admin's list across tenants (tenant *) says whose each job is, for the rows listed and those that arrive live; a job's page says it too.</summary>
    [Fact]
    public async Task AnAdminsListOfEveryTenantSaysWhoseEachJobIs()
    {
        await using var app = await AuthServiceAsync();
        using var acme = new HttpClient { BaseAddress = app.BaseAddress };
        acme.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", await NewKeyAsync(app, "jobs:read", "jobs:write"));
        async Task<Guid> SubmitAsync(HttpClient client) => (await (await client.PostAsJsonAsync("/jobs",
            new { type = "echo", payload = new { text = "hi" }, run_at = "2099-01-01T00:00:00Z" })).Content.ReadFromJsonAsync<JsonElement>()).GetProperty("id").GetGuid();
        using var admin = new HttpClient { BaseAddress = app.BaseAddress };
        admin.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", AdminKey);
        var (acmes, own) = (await SubmitAsync(acme), await SubmitAsync(admin));
        await using var browser = await DashboardPage.OpenAsync(app.BaseAddress);
        var page = browser.Page;
        await SignInAsync(browser, AdminKey);

        await browser.GoAsync("#/jobs");
        await Expect(page.Locator("table.jobs th", new() { HasText = "Tenant" })).ToHaveCountAsync(0); // its own tenant: no column
        await page.GetByLabel("Tenant").FillAsync("*");
        await page.GetByLabel("Tenant").PressAsync("Enter");
        await Expect(page.Locator("table.jobs th", new() { HasText = "Tenant" })).ToHaveCountAsync(1);
        await Expect(page.Locator($"tr[data-job-id='{acmes}'] td.tenant")).ToHaveTextAsync("acme");
        await Expect(page.Locator($"tr[data-job-id='{own}'] td.tenant")).ToHaveTextAsync("default");
        var arrived = await SubmitAsync(acme); // after the list: it comes by the stream
        await Expect(page.Locator($"tr[data-job-id='{arrived}'] td.tenant")).ToHaveTextAsync("acme");
        await Expect(page.Locator($"tr[data-job-id='{arrived}'] .message")).ToHaveTextAsync("Waiting for a worker"); // as a listed row says it

        await browser.GoAsync($"#/jobs/{acmes}");
        await Expect(page.Locator("#job-tenant")).ToHaveTextAsync("acme");
    }
}
