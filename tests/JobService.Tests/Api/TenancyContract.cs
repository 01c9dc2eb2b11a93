using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using JobService.Auth;
using JobService.Data;
using JobService.Worker;
using JobService.Tests.Infrastructure;
using Microsoft.EntityFrameworkCore;

namespace JobService.Tests.Api;

/// <summary>
/// API keys, tenants and limits through the real pipeline, on both providers: nobody sees or
/// touches another tenant's jobs (another's job is a 404 exactly like a job that does not exist),
/// scopes are enforced with ProblemDetails, stream tokens open one job's events only, and the
/// rate limits and the quota answer 429s a client can tell apart.
/// </summary>
public abstract class TenancyContract(AuthApp app)
{
    static readonly object Greet = new { type = "greet", payload = new { name = "Ada" } };
    static readonly string[] Everything = [Scope.JobsRead, Scope.JobsWrite, Scope.EventsRead];

    AuthApp App => (AuthApp)app.EnsureAvailable();

    /// <summary>A tenant of this test's own, with a key holding <paramref name="scopes"/> (every job scope when none are named).</summary>
    async Task<(string Tenant, HttpClient Client, Guid KeyId)> TenantAsync(params string[] scopes)
    {
        var tenant = $"t-{Guid.NewGuid():N}"[..20];
        var (key, id) = await App.NewKeyAsync(tenant, scopes.Length > 0 ? scopes : Everything);
        return (tenant, App.ClientWith(key), id);
    }

    static async Task<Guid> SubmitAsync(HttpClient client, object? body = null)
    {
        var response = await client.PostAsJsonAsync("/jobs", body ?? Greet);
        Assert.Equal(HttpStatusCode.Created, response.StatusCode);
        return (await response.ReadJsonAsync()).Id();
    }

    [Fact]
    public async Task OneTenantCannotSeeOrTouchAnothersJobs()
    {
        var (_, a, _) = await TenantAsync();
        var (_, b, _) = await TenantAsync();
        var mine = await SubmitAsync(a);
        var theirs = await SubmitAsync(b);
        var cancelled = await SubmitAsync(b);
        (await b.PostAsync($"/jobs/{cancelled}/cancel", null)).EnsureSuccessStatusCode();
        var nobodys = Guid.NewGuid();

        // Every way of reaching B's jobs answers as if they did not exist: the same 404 as for an id nobody has.
        var absent = await (await a.GetAsync($"/jobs/{nobodys}")).ShouldBeProblemAsync(HttpStatusCode.NotFound);
        foreach (var (method, path) in new[]
        {
            ("GET", "/jobs/{0}"), ("GET", "/jobs/{0}/logs"), ("GET", "/jobs/{0}/events"), ("POST", "/jobs/{0}/cancel"),
            ("POST", "/jobs/{0}/stream-token"), ("DELETE", "/jobs/{0}"),
        })
        {
            foreach (var id in new[] { theirs, cancelled, nobodys })
            {
                var response = await a.SendAsync(new HttpRequestMessage(new HttpMethod(method), string.Format(path, id)));
                var problem = await response.ShouldBeProblemAsync(HttpStatusCode.NotFound);
                Assert.Equal(absent.Str("title"), problem.Str("title"));
                Assert.Equal(absent.Str("detail").Replace(nobodys.ToString(), id.ToString()), problem.Str("detail"));
                Assert.Equal(Names(absent), Names(problem));
            }
        }
        await (await a.PostAsync($"/jobs/{cancelled}/retry", null)).ShouldBeProblemAsync(HttpStatusCode.NotFound);

        // Lists, counts and streams leave them out.
        var list = await (await a.GetAsync("/jobs")).ReadJsonAsync();
        Assert.Equal([mine], list.GetProperty("items").EnumerateArray().Select(j => j.Id()));
        Assert.Equal(1, list.GetProperty("total").GetInt32());
        Assert.Equal(1, (await (await a.GetAsync("/jobs/stats")).ReadJsonAsync()).GetProperty("total").GetInt32());
        await using (var stream = await SseClient.OpenAsync(a, "/events"))
        {
            var snapshot = await stream.NextAsync();
            Assert.Equal("snapshot-list", snapshot!.Event);
            var items = JsonDocument.Parse(snapshot.Data).RootElement.GetProperty("items").EnumerateArray().Select(j => j.Id()).ToList();
            Assert.Equal([mine], items);
        }

        // And nothing A tried changed them.
        var still = await (await b.GetAsync($"/jobs/{theirs}")).ReadJsonAsync();
        Assert.Equal("pending", still.Str("status"));
        Assert.Equal("cancelled", (await (await b.GetAsync($"/jobs/{cancelled}")).ReadJsonAsync()).Str("status"));
    }

    static List<string> Names(JsonElement problem) => problem.EnumerateObject().Select(p => p.Name).Where(n => n != "trace_id").Order().ToList();

    [Fact]
    public async Task TheSameIdempotencyKeyInTwoTenantsMakesTwoJobs()
    {
        var (_, a, _) = await TenantAsync();
        var (_, b, _) = await TenantAsync();
        async Task<HttpResponseMessage> Post(HttpClient client)
        {
            var request = new HttpRequestMessage(HttpMethod.Post, "/jobs") { Content = JsonContent.Create(Greet) };
            request.Headers.Add("Idempotency-Key", "order-42");
            return await client.SendAsync(request);
        }

        var first = await Post(a);
        var second = await Post(b);
        var again = await Post(a);

        Assert.Equal(HttpStatusCode.Created, first.StatusCode);
        Assert.Equal(HttpStatusCode.Created, second.StatusCode); // B's order-42 is B's own
        Assert.Equal(HttpStatusCode.OK, again.StatusCode); // A's replay is A's job
        var (firstId, secondId, againId) = ((await first.ReadJsonAsync()).Id(), (await second.ReadJsonAsync()).Id(), (await again.ReadJsonAsync()).Id());
        Assert.NotEqual(firstId, secondId);
        Assert.Equal(firstId, againId);
    }

    [Fact]
    public async Task AnAdminSeesOtherTenantsOnlyWhenItAsks()
    {
        var (tenantA, a, _) = await TenantAsync();
        var (tenantB, b, _) = await TenantAsync();
        var jobA = await SubmitAsync(a);
        var jobB = await SubmitAsync(b);
        var admin = App.ClientWith(AuthApp.AdminKey);

        async Task<List<Guid>> Listed(string query) =>
            (await (await admin.GetAsync($"/jobs?limit=500{query}")).ReadJsonAsync()).GetProperty("items").EnumerateArray().Select(j => j.Id()).ToList();

        Assert.DoesNotContain(jobA, await Listed("")); // the admin's own tenant by default
        Assert.Equal([jobA], await Listed($"&tenant_id={tenantA}"));
        Assert.Superset(new HashSet<Guid> { jobA, jobB }, (await Listed("&tenant_id=*")).ToHashSet());
        // Across tenants each job says whose it is (it did not: the list could not be told apart).
        var everyTenant = (await (await admin.GetAsync("/jobs?limit=500&tenant_id=*")).ReadJsonAsync()).GetProperty("items").EnumerateArray().ToList();
        Assert.Equal(tenantA, everyTenant.Single(j => j.Id() == jobA).Str("tenant_id"));
        Assert.Equal(tenantB, everyTenant.Single(j => j.Id() == jobB).Str("tenant_id"));
        Assert.Equal(tenantA, (await (await a.GetAsync($"/jobs/{jobA}")).ReadJsonAsync()).Str("tenant_id"));
        var stats = await (await admin.GetAsync($"/jobs/stats?tenant_id={tenantB}")).ReadJsonAsync();
        Assert.Equal(1, stats.GetProperty("total").GetInt32());
        var readByAdmin = await admin.GetAsync($"/jobs/{jobB}");
        Assert.Equal(HttpStatusCode.OK, readByAdmin.StatusCode);
        Assert.Equal(jobB, (await readByAdmin.ReadJsonAsync()).Id()); // an admin's read of one job spans tenants

        // A tenant's key naming another tenant is refused, naming the scope it lacks; naming its own is fine.
        var refused = await (await a.GetAsync($"/jobs?tenant_id={tenantB}")).ShouldBeProblemAsync(HttpStatusCode.Forbidden);
        Assert.Equal(Scope.Admin, refused.Str("missing_scope"));
        await (await a.GetAsync("/jobs/stats?tenant_id=*")).ShouldBeProblemAsync(HttpStatusCode.Forbidden);
        await (await a.GetAsync($"/events?tenant_id={tenantB}")).ShouldBeProblemAsync(HttpStatusCode.Forbidden);
        Assert.Equal(HttpStatusCode.OK, (await a.GetAsync($"/jobs?tenant_id={tenantA}")).StatusCode);
        await (await a.GetAsync("/api-keys")).ShouldBeProblemAsync(HttpStatusCode.Forbidden);
    }

    [Fact]
    public async Task ARevokedKeyIsRefusedAtOnceHereAndWithinTheCacheBoundElsewhere()
    {
        var (tenant, client, keyId) = await TenantAsync(Scope.JobsRead);
        Assert.Equal(HttpStatusCode.OK, (await client.GetAsync("/jobs")).StatusCode); // remembered from here on

        // Revoked by another instance (straight in the database): this one trusts its cache for at most KeyCacheSeconds.
        await App.WithDbAsync(db => db.ApiKeys.Where(k => k.Id == keyId).ExecuteUpdateAsync(u => u.SetProperty(k => k.RevokedAt, DateTime.UtcNow)));
        App.Time.Advance(TimeSpan.FromSeconds(AuthApp.KeyCacheSeconds + 1));
        var refused = await (await client.GetAsync("/jobs")).ShouldBeProblemAsync(HttpStatusCode.Unauthorized);
        Assert.Contains("revoked", refused.Str("detail"));

        // Revoked through this instance: at once.
        var (_, other, otherId) = await TenantAsync(Scope.JobsRead);
        Assert.Equal(HttpStatusCode.OK, (await other.GetAsync("/jobs")).StatusCode);
        Assert.Equal(HttpStatusCode.NoContent, (await App.ClientWith(AuthApp.AdminKey).DeleteAsync($"/api-keys/{otherId}")).StatusCode);
        await (await other.GetAsync("/jobs")).ShouldBeProblemAsync(HttpStatusCode.Unauthorized);

        var listed = await (await App.ClientWith(AuthApp.AdminKey).GetAsync($"/api-keys?tenant_id={tenant}")).Content.ReadAsStringAsync();
        Assert.DoesNotContain("key_hash", listed);
        Assert.Contains("revoked_at", listed);
    }

    [Fact]
    public async Task AKeyWithoutJobsWriteGets403OnEveryWriteAndNothingChanges()
    {
        var (tenant, reader, _) = await TenantAsync(Scope.JobsRead, Scope.EventsRead);
        var (key, _) = await App.NewKeyAsync(tenant, Scope.JobsWrite);
        var id = await SubmitAsync(App.ClientWith(key));
        var before = await App.RowCountsAsync();

        foreach (var request in new Func<HttpRequestMessage>[]
        {
            () => new(HttpMethod.Post, "/jobs") { Content = JsonContent.Create(Greet) },
            () => new(HttpMethod.Post, "/jobs/batch") { Content = JsonContent.Create(new { jobs = new[] { Greet } }) },
            () => new(HttpMethod.Post, $"/jobs/{id}/cancel"),
            () => new(HttpMethod.Post, $"/jobs/{id}/retry"),
            () => new(HttpMethod.Delete, $"/jobs/{id}"),
        })
        {
            var problem = await (await reader.SendAsync(request())).ShouldBeProblemAsync(HttpStatusCode.Forbidden);
            Assert.Equal(Scope.JobsWrite, problem.Str("missing_scope"));
            Assert.Contains("jobs:write", problem.Str("detail"));
        }
        Assert.Equal(before, await App.RowCountsAsync());

        // Without events:read, no stream and no stream token.
        var (_, noEvents, _) = await TenantAsync(Scope.JobsRead);
        foreach (var (method, path) in new[] { ("GET", $"/jobs/{id}/events"), ("GET", "/events"), ("POST", $"/jobs/{id}/stream-token") })
        {
            var problem = await (await noEvents.SendAsync(new HttpRequestMessage(new HttpMethod(method), path))).ShouldBeProblemAsync(HttpStatusCode.Forbidden);
            Assert.Equal(Scope.EventsRead, problem.Str("missing_scope"));
        }
    }

    [Fact]
    public async Task MissingOrBadKeysAre401sWithAChallenge()
    {
        var anonymous = App.ClientWith(null);
        foreach (var client in new[]
        {
            anonymous, App.ClientWith("jsk_" + new string('x', 32)), App.ClientWith("not-a-key"), App.ClientWith("jst_forged.token"),
        })
        {
            var response = await client.GetAsync("/jobs");
            var problem = await response.ShouldBeProblemAsync(HttpStatusCode.Unauthorized);
            Assert.Equal("Bearer", response.Headers.WwwAuthenticate.Single().Scheme);
            Assert.False(string.IsNullOrEmpty(problem.Str("detail")));
        }
        var viaHeader = new HttpRequestMessage(HttpMethod.Get, "/jobs");
        viaHeader.Headers.Add("X-API-Key", AuthApp.AdminKey);
        Assert.Equal(HttpStatusCode.OK, (await anonymous.SendAsync(viaHeader)).StatusCode);
        // What needs no key: health and the API's description.
        Assert.Equal(HttpStatusCode.OK, (await anonymous.GetAsync("/health/live")).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await anonymous.GetAsync("/swagger/v1/swagger.json")).StatusCode);
    }

    /// <summary>What Swagger UI's Authorize button does: read the document's scheme, send the key the way it says, "Try it out".</summary>
    [Fact]
    public async Task TheDocumentsBearerSchemeWithAKeyRunsTheExamples()
    {
        var anonymous = App.ClientWith(null);
        var document = await (await anonymous.GetAsync("/swagger/v1/swagger.json")).ReadJsonAsync();
        var scheme = document.GetProperty("components").GetProperty("securitySchemes").GetProperty("Bearer").Str("scheme");
        var (key, _) = await App.NewKeyAsync($"swagger-{Guid.NewGuid():N}"[..20], Scope.JobsRead, Scope.JobsWrite);
        var example = document.GetProperty("paths").GetProperty("/jobs").GetProperty("post").GetProperty("requestBody")
            .GetProperty("content").GetProperty("application/json").GetProperty("example").GetRawText();

        var tryItOut = new HttpRequestMessage(HttpMethod.Post, "/jobs") { Content = Http.Json(example) };
        tryItOut.Headers.Authorization = new(char.ToUpperInvariant(scheme[0]) + scheme[1..], key);
        Assert.Equal(HttpStatusCode.Created, (await anonymous.SendAsync(tryItOut)).StatusCode);
        await (await anonymous.PostAsync("/jobs", Http.Json(example))).ShouldBeProblemAsync(HttpStatusCode.Unauthorized); // without it
    }

    [Fact]
    public async Task AStreamTokenOpensOneJobsEventsAndNothingElseAndExpires()
    {
        var (_, client, _) = await TenantAsync();
        var id = await SubmitAsync(client);
        var other = await SubmitAsync(client);
        var grant = await (await client.PostAsync($"/jobs/{id}/stream-token", null)).ReadJsonAsync();
        var token = grant.Str("token");
        Assert.StartsWith("jst_", token);
        Assert.Equal($"/jobs/{id}/events?access_token={token}", grant.Str("url"));
        var browser = App.ClientWith(null); // EventSource sends no headers

        await using (var stream = await SseClient.OpenAsync(browser, grant.Str("url")))
        {
            Assert.Equal(HttpStatusCode.OK, stream.Status);
            Assert.Equal("snapshot", (await stream.NextAsync())!.Event);
        }
        foreach (var path in new[] { $"/jobs/{other}/events", $"/jobs/{id}", $"/jobs/{id}/logs", "/events", "/jobs" })
            await (await browser.GetAsync($"{path}?access_token={token}")).ShouldBeProblemAsync(HttpStatusCode.Unauthorized);
        await (await App.ClientWith(token).GetAsync($"/jobs/{id}/events")).ShouldBeProblemAsync(HttpStatusCode.Unauthorized); // not a key
        // A signature with one character changed: its first, whose six bits all count (the last
        // character's low bits are padding, so changing the last two could leave it the same).
        var signature = token.IndexOf('.') + 1;
        var tampered = token[..signature] + (token[signature] == 'A' ? 'B' : 'A') + token[(signature + 1)..];
        await (await browser.GetAsync($"/jobs/{id}/events?access_token={tampered}")).ShouldBeProblemAsync(HttpStatusCode.Unauthorized);

        App.Time.Advance(TimeSpan.FromMinutes(61));
        var expired = await (await browser.GetAsync(grant.Str("url"))).ShouldBeProblemAsync(HttpStatusCode.Unauthorized);
        Assert.Contains("expired", expired.Str("detail"));
    }

    [Fact]
    public async Task TheSubmitBucketsBurstPlusOneIsA429WithRetryAfter()
    {
        var (_, client, _) = await TenantAsync();
        var (_, neighbour, _) = await TenantAsync();
        for (var i = 0; i < AuthApp.SubmitBurst; i++) await SubmitAsync(client);

        var response = await client.PostAsJsonAsync("/jobs", Greet);

        var problem = await response.ShouldBeProblemAsync(HttpStatusCode.TooManyRequests);
        Assert.Equal(RateLimited.RateLimitType, problem.Str("type"));
        Assert.True(response.Headers.RetryAfter?.Delta > TimeSpan.Zero, $"Retry-After: {response.Headers.RetryAfter}");
        await SubmitAsync(neighbour); // limits are per key
        Assert.Equal(HttpStatusCode.OK, (await client.GetAsync("/jobs")).StatusCode); // reads have their own limit
    }

    /// <summary>Regression: a key's own rate_limit_per_minute kept the service's burst (1,000 by default): a key at 2 a minute made 998 submits before its first 429.</summary>
    [Fact]
    public async Task AKeysOwnRateCapsItsBurst()
    {
        var tenant = $"t-{Guid.NewGuid():N}"[..20];
        var created = await App.ClientWith(AuthApp.AdminKey).PostAsJsonAsync("/api-keys",
            new { name = "slow", tenant_id = tenant, scopes = new[] { "jobs:read", "jobs:write" }, rate_limit_per_minute = 2 });
        var client = App.ClientWith((await created.ReadJsonAsync()).Str("key"));
        for (var i = 0; i < 2; i++) await SubmitAsync(client);

        await (await client.PostAsJsonAsync("/jobs", Greet)).ShouldBeProblemAsync(HttpStatusCode.TooManyRequests);
    }

    /// <summary>Regression: rotating an expired key answered 200 with a new secret that was refused at once.</summary>
    [Fact]
    public async Task RotatingAnExpiredKeyIsA404()
    {
        var admin = App.ClientWith(AuthApp.AdminKey);
        var created = await (await admin.PostAsJsonAsync("/api-keys", new { name = "short", tenant_id = "acme", scopes = new[] { "jobs:read" },
            expires_at = App.Time.GetUtcNow().AddMinutes(5) })).ReadJsonAsync();
        App.Time.Advance(TimeSpan.FromMinutes(6));

        var problem = await (await admin.PostAsync($"/api-keys/{created.GetProperty("details").Id()}/rotate", null)).ShouldBeProblemAsync(HttpStatusCode.NotFound);
        Assert.Contains("no active API key", problem.Str("detail"));
    }

    [Fact]
    public async Task AKeyMayHoldOnlySoManyStreamsOpen()
    {
        var (_, client, _) = await TenantAsync();
        var open = new List<SseClient>();
        for (var i = 0; i < AuthApp.StreamsPerKey; i++)
        {
            open.Add(await SseClient.OpenAsync(client, "/events"));
            Assert.Equal("snapshot-list", (await open[^1].NextAsync())!.Event);
        }

        var refused = await client.GetAsync("/events", HttpCompletionOption.ResponseHeadersRead);

        var problem = await refused.ShouldBeProblemAsync(HttpStatusCode.TooManyRequests);
        Assert.Equal(RateLimited.RateLimitType, problem.Str("type"));
        // Regression: it said "over its request rate" and Retry-After: 1, which a reconnecting EventSource took as a pace.
        Assert.Contains("RateLimits:StreamsPerKey", problem.Str("detail"));
        Assert.Equal(TimeSpan.FromSeconds(RateLimited.StreamRetryAfterSeconds), refused.Headers.RetryAfter?.Delta);
        foreach (var stream in open) await stream.DisposeAsync();
    }

    [Fact]
    public async Task AStreamTokensStreamsCountPerKeyAndClientApartFromTheKeysOwn()
    {
        var (_, client, _) = await TenantAsync();
        var id = await SubmitAsync(client);
        var browser = App.ClientWith(null);
        async Task<string> UrlAsync() => (await (await client.PostAsync($"/jobs/{id}/stream-token", null)).ReadJsonAsync()).Str("url");

        // The key's own streams, up to its limit: its tokens' streams are not among them (a frontend's
        // backend keeps its streams while its users' browsers open theirs).
        var open = new List<SseClient>();
        for (var i = 0; i < AuthApp.StreamsPerKey; i++) open.Add(await SseClient.OpenAsync(client, "/events"));
        for (var i = 0; i < AuthApp.StreamsPerKey; i++) open.Add(await SseClient.OpenAsync(browser, await UrlAsync()));
        foreach (var stream in open) Assert.Equal(HttpStatusCode.OK, stream.Status);
        // One client's token streams stop at the limit (before, tokens had no limit but the client IP's, shared by every key).
        var full = await (await browser.GetAsync(await UrlAsync(), HttpCompletionOption.ResponseHeadersRead))
            .ShouldBeProblemAsync(HttpStatusCode.TooManyRequests);
        Assert.Equal(RateLimited.RateLimitType, full.Str("type"));
        // The same client's stream by another key's token is that key's to count (all of them shared the client's IP).
        var (_, neighbour, _) = await TenantAsync();
        var theirs = await SubmitAsync(neighbour);
        var theirUrl = (await (await neighbour.PostAsync($"/jobs/{theirs}/stream-token", null)).ReadJsonAsync()).Str("url");
        await using (var stream = await SseClient.OpenAsync(browser, theirUrl)) Assert.Equal(HttpStatusCode.OK, stream.Status);
        foreach (var stream in open) await stream.DisposeAsync();
    }

    [Fact]
    public async Task AStreamTokenEndsWithARotationOfItsKey()
    {
        var (_, client, keyId) = await TenantAsync();
        var id = await SubmitAsync(client);
        var url = (await (await client.PostAsync($"/jobs/{id}/stream-token", null)).ReadJsonAsync()).Str("url");
        var browser = App.ClientWith(null);
        await using (var stream = await SseClient.OpenAsync(browser, url)) Assert.Equal(HttpStatusCode.OK, stream.Status);

        // A rotation is what a leaked key gets: what was minted with the old secret goes with it.
        var rotated = await (await App.ClientWith(AuthApp.AdminKey).PostAsync($"/api-keys/{keyId}/rotate", null)).ReadJsonAsync();
        var refused = await (await browser.GetAsync(url, HttpCompletionOption.ResponseHeadersRead)).ShouldBeProblemAsync(HttpStatusCode.Unauthorized);
        Assert.Contains("rotated", refused.Str("detail"));
        var renewed = App.ClientWith(rotated.Str("key"));
        var fresh = (await (await renewed.PostAsync($"/jobs/{id}/stream-token", null)).ReadJsonAsync()).Str("url");
        await using (var stream = await SseClient.OpenAsync(browser, fresh)) Assert.Equal(HttpStatusCode.OK, stream.Status);
    }

    /// <summary>Regression: a stream open when its key was revoked, or its token's key rotated, ran on for up to an hour.</summary>
    [Fact]
    public async Task AnOpenStreamEndsWhenItsKeyIsRevokedOrItsTokensKeyRotated()
    {
        var (_, client, keyId) = await TenantAsync();
        var (_, other, otherKeyId) = await TenantAsync();
        var id = await SubmitAsync(other);
        var url = (await (await other.PostAsync($"/jobs/{id}/stream-token", null)).ReadJsonAsync()).Str("url");
        await using var own = await SseClient.OpenAsync(client, "/events");
        await using var byToken = await SseClient.OpenAsync(App.ClientWith(null), url);
        Assert.Equal("snapshot-list", (await own.NextAsync())!.Event);
        Assert.Equal("snapshot", (await byToken.NextAsync())!.Event);

        Assert.Equal(HttpStatusCode.NoContent, (await App.ClientWith(AuthApp.AdminKey).DeleteAsync($"/api-keys/{keyId}")).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await App.ClientWith(AuthApp.AdminKey).PostAsync($"/api-keys/{otherKeyId}/rotate", null)).StatusCode);

        Assert.Empty(await own.ToEndAsync(TimeSpan.FromSeconds(30))); // ended by the server, nothing more sent
        Assert.Empty(await byToken.ToEndAsync(TimeSpan.FromSeconds(30)));
    }

    [Fact]
    public async Task AStreamTokenOfAKeyRevokedElsewhereIsRefusedWithinTheCacheBound()
    {
        var (_, client, keyId) = await TenantAsync();
        var id = await SubmitAsync(client);
        var url = (await (await client.PostAsync($"/jobs/{id}/stream-token", null)).ReadJsonAsync()).Str("url");
        var browser = App.ClientWith(null);
        await using (var stream = await SseClient.OpenAsync(browser, url)) Assert.Equal(HttpStatusCode.OK, stream.Status);

        // Revoked by another instance (straight in the database): refused once this instance's memory of the key runs out.
        await App.WithDbAsync(db => db.ApiKeys.Where(k => k.Id == keyId).ExecuteUpdateAsync(u => u.SetProperty(k => k.RevokedAt, DateTime.UtcNow)));
        App.Time.Advance(TimeSpan.FromSeconds(AuthApp.KeyCacheSeconds + 1));
        var refused = await (await browser.GetAsync(url, HttpCompletionOption.ResponseHeadersRead)).ShouldBeProblemAsync(HttpStatusCode.Unauthorized);
        Assert.Contains("no longer valid", refused.Str("detail"));
    }

    [Fact]
    public async Task AStreamTokenOfAKeyRevokedHereIsRefusedAtOnce()
    {
        var (_, client, keyId) = await TenantAsync();
        var id = await SubmitAsync(client);
        var url = (await (await client.PostAsync($"/jobs/{id}/stream-token", null)).ReadJsonAsync()).Str("url");
        var browser = App.ClientWith(null);
        await using (var stream = await SseClient.OpenAsync(browser, url)) Assert.Equal(HttpStatusCode.OK, stream.Status);

        Assert.Equal(HttpStatusCode.NoContent, (await App.ClientWith(AuthApp.AdminKey).DeleteAsync($"/api-keys/{keyId}")).StatusCode);
        await (await browser.GetAsync(url, HttpCompletionOption.ResponseHeadersRead)).ShouldBeProblemAsync(HttpStatusCode.Unauthorized);
    }

    [Fact]
    public async Task TheActiveJobQuotaIsA429OfItsOwnTypeAndRefusesABatchWhole()
    {
        var (_, client, _) = await TenantAsync();
        object Batch(int n) => new { jobs = Enumerable.Repeat(Greet, n).ToArray() };

        var tooMany = await client.PostAsJsonAsync("/jobs/batch", Batch(AuthApp.MaxActiveJobs + 1));
        var problem = await tooMany.ShouldBeProblemAsync(HttpStatusCode.TooManyRequests);
        Assert.Equal(RateLimited.QuotaType, problem.Str("type"));
        Assert.NotEqual(RateLimited.RateLimitType, problem.Str("type"));
        Assert.Equal(0, (await (await client.GetAsync("/jobs/stats")).ReadJsonAsync()).GetProperty("total").GetInt32()); // none stored

        Assert.Equal(HttpStatusCode.Created, (await client.PostAsJsonAsync("/jobs/batch", Batch(AuthApp.MaxActiveJobs))).StatusCode);
        var over = await client.PostAsJsonAsync("/jobs", Greet);
        Assert.Equal(RateLimited.QuotaType, (await over.ShouldBeProblemAsync(HttpStatusCode.TooManyRequests)).Str("type"));
        Assert.NotNull(over.Headers.RetryAfter);

        var first = (await (await client.GetAsync("/jobs?limit=1")).ReadJsonAsync()).GetProperty("items")[0].Id();
        (await client.PostAsync($"/jobs/{first}/cancel", null)).EnsureSuccessStatusCode(); // a finished job makes room
        await SubmitAsync(client);
    }

    /// <summary>Regression: GET /workers told every tenant how many jobs each worker ran, its own and everyone else's.</summary>
    [Fact]
    public async Task AWorkersBusyCountIsTheCallersTenantsJobsOnly()
    {
        var (tenant, a, _) = await TenantAsync();
        var (_, b, _) = await TenantAsync();
        var worker = $"w-{Guid.NewGuid():N}";
        var now = DateTime.UtcNow;
        await App.WithDbAsync(async db =>
        {
            db.Workers.Add(new WorkerInstance
            {
                Id = worker, Host = "elsewhere", Version = "1", Role = "worker", State = WorkerHeartbeats.Active, StartedAt = now.AddMinutes(-1),
                LastSeenAt = now, HeartbeatSeconds = 2, Slots = 10, Busy = 2,
            });
            foreach (var _ in new[] { 1, 2 })
                db.Jobs.Add(new Job
                {
                    Id = Guid.CreateVersion7(), TenantId = tenant, Type = "greet", Payload = "{}", Status = JobStatus.Running, LockedBy = worker,
                    Attempt = 1, CreatedAt = now, UpdatedAt = now, RunAt = now, StartedAt = now,
                });
            return await db.SaveChangesAsync();
        });
        async Task<JsonElement> Row(HttpClient client) =>
            (await (await client.GetAsync("/workers")).ReadJsonAsync()).GetProperty("items").EnumerateArray().Single(w => w.Str("id") == worker);

        Assert.Equal(2, (await Row(a)).GetProperty("busy").GetInt32());
        Assert.Equal(2, (await Row(a)).GetProperty("jobs").GetArrayLength());
        Assert.Equal(0, (await Row(b)).GetProperty("busy").GetInt32());
        Assert.Equal(0, (await Row(b)).GetProperty("jobs").GetArrayLength());
        Assert.Equal(2, (await Row(App.ClientWith(AuthApp.AdminKey))).GetProperty("busy").GetInt32()); // an admin sees the fleet
    }

    /// <summary>
    /// Regression: a retry made cancelled jobs active again without counting them, so submitting up
    /// to the quota, cancelling and retrying took a tenant past it without bound.
    /// </summary>
    [Fact]
    public async Task RetriesCountAgainstTheActiveJobQuotaAsSubmitsDo()
    {
        var (_, client, _) = await TenantAsync();
        object Batch(int n) => new { jobs = Enumerable.Repeat(Greet, n).ToArray() };
        async Task<int> Active() => (await (await client.GetAsync("/jobs?status=pending,running&limit=1")).ReadJsonAsync()).GetProperty("total").GetInt32();
        Assert.Equal(HttpStatusCode.Created, (await client.PostAsJsonAsync("/jobs/batch", Batch(AuthApp.MaxActiveJobs))).StatusCode);
        (await client.PostAsJsonAsync("/jobs/bulk/cancel", new { filter = new { status = new[] { "pending" } } })).EnsureSuccessStatusCode();
        Assert.Equal(HttpStatusCode.Created, (await client.PostAsJsonAsync("/jobs/batch", Batch(AuthApp.MaxActiveJobs))).StatusCode); // at the quota again
        var cancelled = (await (await client.GetAsync("/jobs?status=cancelled&limit=1")).ReadJsonAsync()).GetProperty("items")[0].Id();

        var one = await client.PostAsync($"/jobs/{cancelled}/retry", null);
        Assert.Equal(RateLimited.QuotaType, (await one.ShouldBeProblemAsync(HttpStatusCode.TooManyRequests)).Str("type"));
        var bulk = await (await client.PostAsJsonAsync("/jobs/bulk/retry", new { filter = new { status = new[] { "cancelled" } } })).ReadJsonAsync();
        Assert.Equal(0, bulk.GetProperty("affected").GetInt32());
        Assert.Equal(AuthApp.MaxActiveJobs, bulk.GetProperty("skipped").GetArrayLength());
        Assert.Contains("quota", bulk.GetProperty("skipped")[0].GetProperty("reason").GetString());
        Assert.Equal(AuthApp.MaxActiveJobs, await Active());

        var pending = (await (await client.GetAsync("/jobs?status=pending&limit=1")).ReadJsonAsync()).GetProperty("items")[0].Id();
        (await client.PostAsync($"/jobs/{pending}/cancel", null)).EnsureSuccessStatusCode(); // room for one
        Assert.Equal(HttpStatusCode.OK, (await client.PostAsync($"/jobs/{cancelled}/retry", null)).StatusCode);
        Assert.Equal(AuthApp.MaxActiveJobs, await Active());
    }
}

public sealed class SqliteTenancyTests(SqliteAuthApp app) : TenancyContract(app), IClassFixture<SqliteAuthApp>;

public sealed class PostgresTenancyTests(PostgresAuthApp app) : TenancyContract(app), IClassFixture<PostgresAuthApp>;
