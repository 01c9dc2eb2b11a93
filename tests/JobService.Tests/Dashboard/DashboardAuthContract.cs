using System.Net;
using System.Net.Http.Json;
using JobService.Tests.Infrastructure;
using JobService.Dashboard;
using Microsoft.AspNetCore.Mvc.Testing;
using Microsoft.Extensions.DependencyInjection;

namespace JobService.Tests.Dashboard;

/// <summary>
/// The dashboard's sign-in with auth on, through the real pipeline: a key becomes an HttpOnly,
/// SameSite=Strict session cookie that authenticates the public API; a change made with it needs
/// the session's antiforgery token (400 without), and a key's scopes still decide (403).
/// </summary>
public abstract class DashboardAuthContract(AuthApp app)
{
    AuthApp App => (AuthApp)app.EnsureAvailable();

    /// <summary>A browser-like client: it keeps cookies and sends no key of its own.</summary>
    HttpClient Browser(string scheme = "http") =>
        App.CreateClient(new WebApplicationFactoryClientOptions { HandleCookies = true, BaseAddress = new Uri($"{scheme}://localhost") });

    async Task<(HttpClient Browser, string Token, HttpResponseMessage SignIn)> SignedInAsync(string key, string scheme = "http")
    {
        var browser = Browser(scheme);
        var signIn = await browser.PostAsJsonAsync("/dashboard/session", new { key });
        Assert.Equal(HttpStatusCode.NoContent, signIn.StatusCode);
        var session = await (await browser.GetAsync("/dashboard/session")).ReadJsonAsync();
        return (browser, session.Str("antiforgery_token"), signIn);
    }

    static HttpRequestMessage Post(string path, object body, string? token)
    {
        var request = new HttpRequestMessage(HttpMethod.Post, path) { Content = JsonContent.Create(body) };
        if (token is not null) request.Headers.Add("X-Dashboard-Token", token);
        return request;
    }

    static HttpRequestMessage StreamTokenRequest(Guid job, string token) =>
        new(HttpMethod.Post, $"/jobs/{job}/stream-token") { Headers = { { "X-Dashboard-Token", token } } };

    [Fact]
    public async Task SigningInSetsAnHttpOnlyStrictCookieThatAuthenticatesTheApi()
    {
        var tenant = $"t{Guid.NewGuid():N}"[..12];
        var (key, _) = await App.NewKeyAsync(tenant, "jobs:read", "jobs:write", "events:read");

        var (browser, token, signIn) = await SignedInAsync(key);

        var cookie = Assert.Single(signIn.Headers.GetValues("Set-Cookie"));
        Assert.StartsWith("jobservice_session=", cookie);
        Assert.Contains("httponly", cookie, StringComparison.OrdinalIgnoreCase);
        Assert.Contains("samesite=strict", cookie, StringComparison.OrdinalIgnoreCase);
        Assert.Contains("path=/", cookie);
        Assert.DoesNotContain("secure", cookie, StringComparison.OrdinalIgnoreCase); // plain http here
        Assert.DoesNotContain(key, cookie); // sealed, never the key itself
        Assert.False(string.IsNullOrEmpty(token));
        var session = await (await browser.GetAsync("/dashboard/session")).ReadJsonAsync();
        Assert.Equal(tenant, session.Str("tenant_id"));
        Assert.Equal(["events:read", "jobs:read", "jobs:write"], session.GetProperty("scopes").EnumerateArray().Select(s => s.GetString()));
        Assert.Equal(HttpStatusCode.OK, (await browser.GetAsync("/jobs")).StatusCode);
        Assert.Equal(HttpStatusCode.Created, (await browser.SendAsync(Post("/jobs", new { type = "echo", payload = new { text = "a" } }, token))).StatusCode);
        var listed = await (await browser.GetAsync("/jobs")).ReadJsonAsync();
        Assert.Equal(1, listed.GetProperty("total").GetInt32()); // the key's own tenant
    }

    [Fact]
    public async Task OverHttpsTheCookieIsSecure()
    {
        var (key, _) = await App.NewKeyAsync($"t{Guid.NewGuid():N}"[..12], "jobs:read");
        var (_, _, signIn) = await SignedInAsync(key, "https");
        Assert.Contains("secure", Assert.Single(signIn.Headers.GetValues("Set-Cookie")), StringComparison.OrdinalIgnoreCase);
    }

    [Fact]
    public async Task AKeyThatIsNotValidIsA401AndSetsNoCookie()
    {
        var response = await Browser().PostAsJsonAsync("/dashboard/session", new { key = "jsk_NotAKeyAtAll0000000000000000000" });

        var problem = await response.ShouldBeProblemAsync(HttpStatusCode.Unauthorized);
        Assert.Contains("not valid", problem.Str("detail"));
        Assert.False(response.Headers.Contains("Set-Cookie"));
    }

    /// <summary>Regression: a key with events:read alone signed in to pages that could show nothing (every one reads jobs).</summary>
    [Fact]
    public async Task AKeyThatMayNotReadJobsIsA403NamingTheScopeAndSetsNoCookie()
    {
        var (key, _) = await App.NewKeyAsync($"t{Guid.NewGuid():N}"[..12], "events:read", "jobs:write");

        var response = await Browser().PostAsJsonAsync("/dashboard/session", new { key });

        var problem = await response.ShouldBeProblemAsync(HttpStatusCode.Forbidden);
        Assert.Contains("jobs:read", problem.Str("detail"));
        Assert.Equal("jobs:read", problem.Str("missing_scope"));
        Assert.False(response.Headers.Contains("Set-Cookie"));
    }

    [Fact]
    public async Task AChangeWithTheSessionCookieButNoAntiforgeryTokenIsA400AndChangesNothing()
    {
        var (key, _) = await App.NewKeyAsync($"t{Guid.NewGuid():N}"[..12], "jobs:read", "jobs:write");
        var (browser, token, _) = await SignedInAsync(key);

        var missing = await browser.SendAsync(Post("/jobs", new { type = "echo", payload = new { text = "a" } }, token: null));
        var wrong = await browser.SendAsync(Post("/jobs/bulk/cancel", new { filter = new { } }, token: token[..^2] + "xx"));

        Assert.Contains("X-Dashboard-Token", (await missing.ShouldBeProblemAsync(HttpStatusCode.BadRequest)).Str("detail"));
        await wrong.ShouldBeProblemAsync(HttpStatusCode.BadRequest);
        Assert.Equal(0, (await (await browser.GetAsync("/jobs")).ReadJsonAsync()).GetProperty("total").GetInt32());
    }

    [Fact]
    public async Task AReadOnlyKeysActionIsA403EvenWithTheToken()
    {
        var tenant = $"t{Guid.NewGuid():N}"[..12];
        var (writer, _) = await App.NewKeyAsync(tenant, "jobs:read", "jobs:write");
        var job = await App.CreateJobAsync(new { type = "echo", payload = new { text = "a" } }, App.ClientWith(writer));
        var (reader, _) = await App.NewKeyAsync(tenant, "jobs:read", "events:read");
        var (browser, token, _) = await SignedInAsync(reader);

        foreach (var (path, body) in new[] { ("/jobs/bulk/cancel", (object)new { ids = new[] { job.Id() } }), ($"/jobs/{job.Id()}/cancel", new { }) })
        {
            var problem = await (await browser.SendAsync(Post(path, body, token))).ShouldBeProblemAsync(HttpStatusCode.Forbidden);
            Assert.Equal("jobs:write", problem.Str("missing_scope"));
        }
        // And without the token, still the 403: the scope is checked first.
        await (await browser.SendAsync(Post("/jobs/bulk/retry", new { ids = new[] { job.Id() } }, null))).ShouldBeProblemAsync(HttpStatusCode.Forbidden);
        var stored = await (await App.ClientWith(writer).GetAsync($"/jobs/{job.Id()}")).ReadJsonAsync();
        Assert.Equal("pending", stored.Str("status"));
    }

    [Fact]
    public async Task ARevokedKeysSessionEndsAtOnce()
    {
        var (key, id) = await App.NewKeyAsync($"t{Guid.NewGuid():N}"[..12], "jobs:read");
        var (browser, _, _) = await SignedInAsync(key);
        Assert.Equal(HttpStatusCode.OK, (await browser.GetAsync("/jobs")).StatusCode);

        Assert.Equal(HttpStatusCode.NoContent, (await App.ClientWith(AuthApp.AdminKey).DeleteAsync($"/api-keys/{id}")).StatusCode);

        await (await browser.GetAsync("/jobs")).ShouldBeProblemAsync(HttpStatusCode.Unauthorized);
        await (await browser.GetAsync("/dashboard/session")).ShouldBeProblemAsync(HttpStatusCode.Unauthorized);
    }

    [Fact]
    public async Task ATamperedCookieIsA401()
    {
        var (key, _) = await App.NewKeyAsync($"t{Guid.NewGuid():N}"[..12], "jobs:read");
        var (_, _, signIn) = await SignedInAsync(key);
        var value = Assert.Single(signIn.Headers.GetValues("Set-Cookie")).Split(';')[0]["jobservice_session=".Length..];
        var forged = value[..10] + (value[10] == 'A' ? 'B' : 'A') + value[11..];
        var client = App.CreateClient();
        client.DefaultRequestHeaders.Add("Cookie", $"jobservice_session={forged}");

        var problem = await (await client.GetAsync("/jobs")).ShouldBeProblemAsync(HttpStatusCode.Unauthorized);
        Assert.Contains("sign in again", problem.Str("detail"));
    }

    [Fact]
    public async Task ASessionEndsAfterDashboardSessionHours()
    {
        var (key, _) = await App.NewKeyAsync($"t{Guid.NewGuid():N}"[..12], "jobs:read");
        var (browser, _, _) = await SignedInAsync(key);

        App.Time.Advance(TimeSpan.FromHours(12) + TimeSpan.FromSeconds(1)); // Dashboard:SessionHours

        Assert.Contains("expired", (await (await browser.GetAsync("/jobs")).ShouldBeProblemAsync(HttpStatusCode.Unauthorized)).Str("detail"));
    }

    [Fact]
    public async Task SigningOutEndsTheSession()
    {
        var (key, _) = await App.NewKeyAsync($"t{Guid.NewGuid():N}"[..12], "jobs:read");
        var (browser, token, _) = await SignedInAsync(key);

        var request = new HttpRequestMessage(HttpMethod.Delete, "/dashboard/session");
        request.Headers.Add("X-Dashboard-Token", token);
        Assert.Equal(HttpStatusCode.NoContent, (await browser.SendAsync(request)).StatusCode);

        await (await browser.GetAsync("/jobs")).ShouldBeProblemAsync(HttpStatusCode.Unauthorized);
    }

    /// <summary>
    /// Regression: signing out deleted the cookie in that browser only; a copy of it (another
    /// machine's, a stolen one) went on working until Dashboard:SessionHours ran out.
    /// </summary>
    [Fact]
    public async Task SigningOutEndsTheSessionForEveryCopyOfTheCookieOnEveryInstance()
    {
        var (key, _) = await App.NewKeyAsync($"t{Guid.NewGuid():N}"[..12], "jobs:read", "events:read");
        var (browser, token, signIn) = await SignedInAsync(key);
        var copy = Assert.Single(signIn.Headers.GetValues("Set-Cookie")).Split(';')[0]["jobservice_session=".Length..];
        var elsewhere = App.CreateClient();
        HttpRequestMessage WithCopy() => new(HttpMethod.Get, "/jobs") { Headers = { { "Cookie", $"jobservice_session={copy}" } } };
        Assert.Equal(HttpStatusCode.OK, (await elsewhere.SendAsync(WithCopy())).StatusCode);
        // Another instance that has seen the session in use, and so remembers it as signed in.
        var other = ActivatorUtilities.CreateInstance<DashboardSession>(App.Services);
        Assert.Equal(key, await other.OpenAsync(copy, default));
        var withCopy = App.CreateClient();
        withCopy.DefaultRequestHeaders.Add("Cookie", $"jobservice_session={copy}");
        await using var stream = await SseClient.OpenAsync(withCopy, "/events");
        Assert.Equal(HttpStatusCode.OK, stream.Status);
        Assert.Equal("snapshot-list", (await stream.NextAsync())!.Event);

        var signOut = new HttpRequestMessage(HttpMethod.Delete, "/dashboard/session");
        signOut.Headers.Add("X-Dashboard-Token", token);
        Assert.Equal(HttpStatusCode.NoContent, (await browser.SendAsync(signOut)).StatusCode);

        await (await elsewhere.SendAsync(WithCopy())).ShouldBeProblemAsync(HttpStatusCode.Unauthorized); // this instance: at once
        Assert.Empty(await stream.ToEndAsync(TimeSpan.FromSeconds(30))); // and a stream the copy had open ends
        Assert.Equal(key, await other.OpenAsync(copy, default)); // the other: within its memory's bound
        App.Time.Advance(TimeSpan.FromSeconds(AuthApp.KeyCacheSeconds + 1));
        Assert.Null(await other.OpenAsync(copy, default));
    }

    /// <summary>
    /// Two sign-outs of one session (two tabs at once, or two instances): the second finds the
    /// first's row and is as done as the first, on this instance and on another.
    /// </summary>
    [Fact]
    public async Task ASessionSignedOutTwiceIsSignedOutOnceWithoutAnError()
    {
        var (key, _) = await App.NewKeyAsync($"t{Guid.NewGuid():N}"[..12], "jobs:read");
        var signIn = await Browser().PostAsJsonAsync("/dashboard/session", new { key });
        var cookie = Assert.Single(signIn.Headers.GetValues("Set-Cookie")).Split(';')[0]["jobservice_session=".Length..];
        var here = App.Services.GetRequiredService<DashboardSession>();
        var other = ActivatorUtilities.CreateInstance<DashboardSession>(App.Services);

        await here.SignOutAsync(cookie, default);
        await other.SignOutAsync(cookie, default); // its insert meets the first's row

        Assert.Null(await here.OpenAsync(cookie, default));
        Assert.Null(await other.OpenAsync(cookie, default));
    }

    /// <summary>
    /// Regression: a stream token asked for through a dashboard session was bound to the session's
    /// key alone, so it went on opening the job's stream for up to an hour after the sign-out.
    /// </summary>
    [Fact]
    public async Task AStreamTokenAskedForThroughASessionEndsWithItsSignOut()
    {
        var (key, _) = await App.NewKeyAsync($"t{Guid.NewGuid():N}"[..12], "jobs:read", "jobs:write", "events:read");
        var (browser, token, _) = await SignedInAsync(key);
        var id = (await (await browser.SendAsync(Post("/jobs", new { type = "greet", payload = new { name = "Ada" } }, token))).ReadJsonAsync()).Id();
        var url = (await (await browser.SendAsync(StreamTokenRequest(id, token))).ReadJsonAsync()).Str("url");
        var elsewhere = App.CreateClient(); // the token alone, as an EventSource on another page sends it
        await using var open = await SseClient.OpenAsync(elsewhere, url);
        Assert.Equal(HttpStatusCode.OK, open.Status);
        Assert.Equal("snapshot", (await open.NextAsync())!.Event);

        var signOut = new HttpRequestMessage(HttpMethod.Delete, "/dashboard/session");
        signOut.Headers.Add("X-Dashboard-Token", token);
        Assert.Equal(HttpStatusCode.NoContent, (await browser.SendAsync(signOut)).StatusCode);

        var refused = await (await elsewhere.GetAsync(url, HttpCompletionOption.ResponseHeadersRead)).ShouldBeProblemAsync(HttpStatusCode.Unauthorized);
        Assert.Contains("signed out", refused.Str("detail"));
        Assert.Empty(await open.ToEndAsync(TimeSpan.FromSeconds(30))); // and the stream it had open ends
        // The key itself still opens the stream: only what the session asked for went with it.
        var byKey = App.CreateClient();
        byKey.DefaultRequestHeaders.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", key);
        var fresh = (await (await byKey.PostAsync($"/jobs/{id}/stream-token", null)).ReadJsonAsync()).Str("url");
        await using (var stream = await SseClient.OpenAsync(elsewhere, fresh)) Assert.Equal(HttpStatusCode.OK, stream.Status);
        // A key's token keeps the five fields the release before reads (a rolling upgrade runs both); a session's has six.
        Assert.Equal(5, Fields(fresh).Length);
        Assert.Equal(6, Fields(url).Length);
    }

    /// <summary>The signed fields of the stream token in <paramref name="url"/>.</summary>
    static string[] Fields(string url)
    {
        var body = url.Split("access_token=jst_")[1].Split('.')[0];
        return System.Text.Encoding.UTF8.GetString(Microsoft.AspNetCore.WebUtilities.WebEncoders.Base64UrlDecode(body)).Split('|');
    }

    /// <summary>A token asked for through a session expires with the session when that comes first.</summary>
    [Fact]
    public async Task AStreamTokenAskedForThroughASessionDoesNotOutliveIt()
    {
        var (key, _) = await App.NewKeyAsync($"t{Guid.NewGuid():N}"[..12], "jobs:read", "jobs:write", "events:read");
        var signedInAt = App.Time.GetUtcNow().UtcDateTime;
        var (browser, token, _) = await SignedInAsync(key);
        var id = (await (await browser.SendAsync(Post("/jobs", new { type = "greet", payload = new { name = "Ada" } }, token))).ReadJsonAsync()).Id();
        var sessionHours = App.Services.GetRequiredService<Microsoft.Extensions.Options.IOptions<DashboardOptions>>().Value.SessionHours;
        App.Time.Advance(TimeSpan.FromHours(sessionHours) - TimeSpan.FromMinutes(10)); // ten minutes of the session left

        var grant = await (await browser.SendAsync(StreamTokenRequest(id, token))).ReadJsonAsync();

        var expires = grant.GetProperty("expires_at").GetDateTime().ToUniversalTime();
        Assert.InRange(expires, signedInAt.AddHours(sessionHours), signedInAt.AddHours(sessionHours).AddSeconds(5)); // not an hour from now
        App.Time.Advance(TimeSpan.FromMinutes(11));
        await (await App.CreateClient().GetAsync(grant.Str("url"), HttpCompletionOption.ResponseHeadersRead)).ShouldBeProblemAsync(HttpStatusCode.Unauthorized);
    }
}

public sealed class SqliteDashboardAuthTests(SqliteAuthApp app) : DashboardAuthContract(app), IClassFixture<SqliteAuthApp>;

public sealed class PostgresDashboardAuthTests(PostgresAuthApp app) : DashboardAuthContract(app), IClassFixture<PostgresAuthApp>;
