using System.Net;
using System.Text;
using JobService.Tests.Infrastructure;

namespace JobService.Tests.Api;

/// <summary>
/// Malformed and hostile requests: each gets a 4xx ProblemDetails (never a 500) and leaves no
/// row behind. Bodies starting with '@' are generated (too long to write inline).
/// </summary>
public abstract class BadInputContract(TestApp app) : IAsyncLifetime
{
    const string Json = "application/json";
    static readonly string SomeId = Guid.CreateVersion7().ToString();

    public static TheoryData<string, string, string, string?, string?, int> Cases => new()
    {
        { "broken JSON", "POST", "/jobs", Json, "{\"type\": \"greet\",", 400 },
        { "not JSON at all", "POST", "/jobs", Json, "hello there", 400 },
        { "empty body", "POST", "/jobs", Json, "", 400 },
        { "JSON null body", "POST", "/jobs", Json, "null", 400 },
        { "array body", "POST", "/jobs", Json, "[]", 400 },
        { "string body", "POST", "/jobs", Json, "\"greet\"", 400 },
        { "type is a number", "POST", "/jobs", Json, "{\"type\": 42}", 400 },
        { "type missing", "POST", "/jobs", Json, "{\"payload\": {\"name\": \"a\"}}", 400 },
        { "payload is a string", "POST", "/jobs", Json, "{\"type\": \"greet\", \"payload\": \"Ada\"}", 400 },
        { "priority is a string", "POST", "/jobs", Json, "{\"type\": \"greet\", \"payload\": {\"name\": \"a\"}, \"priority\": \"high\"}", 400 },
        { "priority overflows", "POST", "/jobs", Json, "{\"type\": \"greet\", \"payload\": {\"name\": \"a\"}, \"priority\": 1e20}", 400 },
        { "max_attempts zero", "POST", "/jobs", Json, "{\"type\": \"greet\", \"payload\": {\"name\": \"a\"}, \"max_attempts\": 0}", 400 },
        { "max_attempts negative", "POST", "/jobs", Json, "{\"type\": \"greet\", \"payload\": {\"name\": \"a\"}, \"max_attempts\": -3}", 400 },
        { "run_at not a date", "POST", "/jobs", Json, "{\"type\": \"greet\", \"payload\": {\"name\": \"a\"}, \"run_at\": \"tomorrow\"}", 400 },
        { "run_at impossible date", "POST", "/jobs", Json, "{\"type\": \"greet\", \"payload\": {\"name\": \"a\"}, \"run_at\": \"2026-02-30T00:00:00Z\"}", 400 },
        { "run_at at the start of time", "POST", "/jobs", Json, "{\"type\": \"greet\", \"payload\": {\"name\": \"a\"}, \"run_at\": \"0001-01-01T00:00:00Z\"}", 400 },
        { "run_at at the end of time", "POST", "/jobs", Json, "{\"type\": \"greet\", \"payload\": {\"name\": \"a\"}, \"run_at\": \"9999-12-31T23:59:59.9999999Z\"}", 400 },
        { "half a surrogate pair in a payload string", "POST", "/jobs", Json, "{\"type\": \"greet\", \"payload\": {\"name\": \"a\\ud800\"}}", 400 },
        { "half a surrogate pair in a batch's payload", "POST", "/jobs/batch", Json, "{\"jobs\": [{\"type\": \"greet\", \"payload\": {\"name\": \"\\udc00\"}}]}", 400 },
        { "half a surrogate pair in a payload filter", "GET", "/jobs?payload.name=%22%5Cud800%22", null, null, 400 },
        { "a null in a bulk filter's statuses", "POST", "/jobs/bulk/cancel", Json, "{\"filter\": {\"status\": [null]}}", 400 },
        { "a null in a bulk filter's types", "POST", "/jobs/bulk/cancel", Json, "{\"filter\": {\"type\": [null]}}", 400 },
        // Given empty (a client that built an empty value), a filter would match every job: a bulk delete of all of them.
        { "an empty status in a bulk filter", "POST", "/jobs/bulk/delete", Json, "{\"filter\": {\"status\": [\"\"]}}", 400 },
        { "an empty list of statuses in a bulk filter", "POST", "/jobs/bulk/delete", Json, "{\"filter\": {\"status\": []}}", 400 },
        { "an empty list of types in a bulk filter", "POST", "/jobs/bulk/delete", Json, "{\"filter\": {\"type\": []}}", 400 },
        { "a type of only commas in a bulk filter", "POST", "/jobs/bulk/delete", Json, "{\"filter\": {\"type\": [\",\"]}}", 400 },
        { "status= on a list", "GET", "/jobs?status=", null, null, 400 },
        { "type= on a list", "GET", "/jobs?type=&status=failed", null, null, 400 },
        { "empty charset", "POST", "/jobs", "application/json; charset=", "{\"type\": \"greet\", \"payload\": {\"name\": \"a\"}}", 415 },
        { "UTF-7 charset, which .NET will not read", "POST", "/jobs", "application/json; charset=utf-7", "{\"type\": \"greet\", \"payload\": {\"name\": \"a\"}}", 415 },
        { "unknown top-level field", "POST", "/jobs", Json, "{\"type\": \"greet\", \"payload\": {\"name\": \"a\"}, \"colour\": \"red\"}", 400 },
        { "unknown payload field", "POST", "/jobs", Json, "{\"type\": \"greet\", \"payload\": {\"name\": \"a\", \"admin\": true}}", 400 },
        { "duplicate top-level key", "POST", "/jobs", Json, "{\"type\": \"greet\", \"payload\": {\"name\": \"a\"}, \"payload\": {\"name\": \"b\"}}", 400 },
        { "duplicate payload key", "POST", "/jobs", Json, "{\"type\": \"greet\", \"payload\": {\"name\": \"a\", \"name\": \"b\"}}", 400 },
        { "deeply nested payload", "POST", "/jobs", Json, "@deep", 400 },
        { "huge type name", "POST", "/jobs", Json, "@hugetype", 400 },
        { "huge payload string", "POST", "/jobs", Json, "@hugename", 400 },
        { "body over the size limit", "POST", "/jobs", Json, "@toolarge", 413 },
        { "text/plain content type", "POST", "/jobs", "text/plain", "{\"type\": \"greet\", \"payload\": {\"name\": \"a\"}}", 415 },
        { "no content type", "POST", "/jobs", null, "{\"type\": \"greet\", \"payload\": {\"name\": \"a\"}}", 415 },
        { "form content type", "POST", "/jobs", "application/x-www-form-urlencoded", "type=greet", 415 },
        { "javascript callback URL", "POST", "/jobs", Json, "{\"type\": \"greet\", \"payload\": {\"name\": \"a\"}, \"callback_url\": \"javascript:alert(1)\"}", 400 },
        { "SQL in the type", "POST", "/jobs", Json, "{\"type\": \"greet'; DROP TABLE jobs;--\", \"payload\": {}}", 400 },
        { "NUL in the type", "POST", "/jobs", Json, "{\"type\": \"gr\\u0000eet\", \"payload\": {\"name\": \"a\"}}", 400 },
        { "NUL in a payload string", "POST", "/jobs", Json, "{\"type\": \"greet\", \"payload\": {\"name\": \"a\\u0000b\"}}", 400 },
        { "invalid UTF-8", "POST", "/jobs", Json, "@badutf8", 400 },
        { "Idempotency-Key too long", "POST", "/jobs", Json, "@longkey", 400 },
        { "SQL in the status filter", "GET", "/jobs?status=pending'%20OR%20'1'='1", null, null, 400 },
        { "SQL in the type filter", "GET", "/jobs?type=x'%20OR%201=1--", null, null, 400 },
        { "upper-case status filter", "GET", "/jobs?status=FAILED", null, null, 400 },
        { "negative limit", "GET", "/jobs?limit=-1", null, null, 400 },
        { "huge limit", "GET", "/jobs?limit=100000", null, null, 400 },
        { "limit not a number", "GET", "/jobs?limit=abc", null, null, 400 },
        { "negative offset", "GET", "/jobs?offset=-5", null, null, 400 },
        { "offset past int", "GET", "/jobs?offset=99999999999999", null, null, 400 },
        { "created_after not a date", "GET", "/jobs?created_after=not-a-date", null, null, 400 },
        { "created_before impossible", "GET", "/jobs?created_before=2026-13-45", null, null, 400 },
        { "id not a UUID", "GET", "/jobs/not-a-uuid", null, null, 400 },
        { "id blank", "GET", "/jobs/%20", null, null, 400 },
        { "id with SQL", "GET", "/jobs/1'%20OR%20'1'='1", null, null, 400 },
        { "cancel non-UUID", "POST", "/jobs/123/cancel", null, null, 400 },
        { "retry non-UUID", "POST", "/jobs/abc/retry", null, null, 400 },
        { "delete non-UUID", "DELETE", "/jobs/zzz", null, null, 400 },
        { "logs with negative after", "GET", $"/jobs/{SomeId}/logs?after=-1", null, null, 400 },
        { "logs with zero limit", "GET", $"/jobs/{SomeId}/logs?limit=0", null, null, 400 },
        { "method not allowed", "PUT", "/jobs", Json, "{}", 405 },
        { "a misspelt filter, which would list every job", "GET", "/jobs?stauts=failed", null, null, 400 },
        { "a tenant named on a submit, which goes to the caller's", "POST", "/jobs?tenant_id=acme", Json, "{\"type\": \"greet\", \"payload\": {\"name\": \"a\"}}", 400 },
        { "a tenant named on a batch", "POST", "/jobs/batch?tenant_id=acme", Json, "{\"jobs\": [{\"type\": \"greet\", \"payload\": {\"name\": \"a\"}}]}", 400 },
        { "a payload filter without its prefix's case", "GET", "/jobs?Payload.name=a", null, null, 400 },
        { "an unknown parameter on the stream of every job", "GET", "/events?jobid=x", null, null, 400 },
        // From the 550-request battery of the hostile-input issue:
        { "unknown charset", "POST", "/jobs", "application/json; charset=bogus-charset", "{\"type\": \"greet\", \"payload\": {\"name\": \"a\"}}", 415 },
        { "priority as a string", "POST", "/jobs", Json, "{\"type\": \"greet\", \"payload\": {\"name\": \"a\"}, \"priority\": \"5\"}", 400 },
        { "max_attempts as a string", "POST", "/jobs", Json, "{\"type\": \"greet\", \"payload\": {\"name\": \"a\"}, \"max_attempts\": \"3\"}", 400 },
        { "payload number as a string", "POST", "/jobs", Json, "{\"type\": \"greet\", \"payload\": {\"name\": \"a\", \"times\": \"2\"}}", 400 },
        { "type filter with a newline", "GET", "/jobs?type=echo%0A", null, null, 400 },
        { "NUL in a payload filter", "GET", "/jobs?payload.name=a%00b", null, null, 400 },
        { "NUL in tenant_id", "GET", "/jobs?tenant_id=a%00b", null, null, 400 },
        { "tenant_id no tenant can have", "GET", "/jobs/stats?tenant_id=a%20b", null, null, 400 },
        { "tenant_id no tenant can have, on the events stream", "GET", "/events?tenant_id=a%00b", null, null, 400 },
        { "tenant_id no tenant can have, in a bulk filter", "POST", "/jobs/bulk/cancel", Json, "{\"filter\": {\"tenant_id\": \"a b\"}}", 400 },
        { "tenant_id no tenant can have, for API keys", "GET", "/api-keys?tenant_id=a%00b", null, null, 400 },
        { "NUL in an API key's name", "POST", "/api-keys", Json, "{\"name\": \"a\\u0000b\", \"tenant_id\": \"acme\", \"scopes\": [\"jobs:read\"]}", 400 },
        { "NUL in a bulk action's payload filter", "POST", "/jobs/bulk/cancel", Json, "{\"filter\": {\"payload\": {\"name\": \"a\\u0000b\"}}}", 400 },
        { "two Idempotency-Key headers", "POST", "/jobs", Json, "@twokeys", 400 },
        { "two Idempotency-Key headers on a batch", "POST", "/jobs/batch", Json, "@twokeysbatch", 400 },
        { "callback to loopback", "POST", "/jobs", Json, "@callback:http://127.0.0.1:8080/hook", 400 },
        { "callback to localhost", "POST", "/jobs", Json, "@callback:http://localhost/hook", 400 },
        { "callback to a .localhost name", "POST", "/jobs", Json, "@callback:https://api.localhost./hook", 400 },
        { "callback to cloud metadata", "POST", "/jobs", Json, "@callback:http://169.254.169.254/latest/meta-data/", 400 },
        { "callback to IPv6 loopback", "POST", "/jobs", Json, "@callback:http://[::1]/", 400 },
        { "callback to decimal 127.0.0.1", "POST", "/jobs", Json, "@callback:http://2130706433/", 400 },
        { "callback to hex 127.0.0.1", "POST", "/jobs", Json, "@callback:http://0x7f000001/", 400 },
        { "callback to short 127.1", "POST", "/jobs", Json, "@callback:http://127.1/", 400 },
        { "callback to a private network", "POST", "/jobs", Json, "@callback:http://10.0.0.1/hook", 400 },
        { "callback to 172.16/12", "POST", "/jobs", Json, "@callback:http://172.31.255.1/hook", 400 },
        { "callback to 192.168/16", "POST", "/jobs", Json, "@callback:http://192.168.1.1/hook", 400 },
        { "callback to carrier-grade NAT", "POST", "/jobs", Json, "@callback:http://100.64.0.1/hook", 400 },
        { "callback to IPv4-mapped IPv6", "POST", "/jobs", Json, "@callback:http://[::ffff:127.0.0.1]/", 400 },
        { "callback to IPv4-mapped metadata", "POST", "/jobs", Json, "@callback:http://[::ffff:a9fe:a9fe]/", 400 },
        { "callback to unique-local IPv6", "POST", "/jobs", Json, "@callback:http://[fd00::1]/", 400 },
        { "callback to link-local IPv6", "POST", "/jobs", Json, "@callback:http://[fe80::1]/", 400 },
        { "callback to multicast", "POST", "/jobs", Json, "@callback:http://224.0.0.1/", 400 },
        { "callback to 0.0.0.0", "POST", "/jobs", Json, "@callback:http://0.0.0.0/", 400 },
        { "callback to the unspecified IPv6", "POST", "/jobs", Json, "@callback:http://[::]/", 400 },
        { "callback to a documentation range", "POST", "/jobs", Json, "@callback:http://192.0.2.10/", 400 },
        { "callback to NAT64 loopback", "POST", "/jobs", Json, "@callback:http://[64:ff9b::7f00:1]/", 400 },
        { "callback with user info", "POST", "/jobs", Json, "@callback:https://user:secret@example.com/hook", 400 },
        { "callback on a port not allowed", "POST", "/jobs", Json, "@callback:https://hooks.example.com:8443/hook", 400 },
        { "callback URL too long", "POST", "/jobs", Json, "@callback:https://hooks.example.com/" + new string('a', 2_100), 400 },
        { "callback_events without a callback_url", "POST", "/jobs", Json, "{\"type\": \"greet\", \"payload\": {\"name\": \"a\"}, \"callback_events\": [\"job.completed\"]}", 400 },
        { "an unknown callback event", "POST", "/jobs", Json, "{\"type\": \"greet\", \"payload\": {\"name\": \"a\"}, \"callback_url\": \"https://hooks.example.com/\", \"callback_events\": [\"job.exploded\"]}", 400 },
        { "no callback events at all", "POST", "/jobs", Json, "{\"type\": \"greet\", \"payload\": {\"name\": \"a\"}, \"callback_url\": \"https://hooks.example.com/\", \"callback_events\": []}", 400 },
    };

    [Theory]
    [MemberData(nameof(Cases))]
    public async Task HostileRequestGets4xxProblemDetailsAndWritesNothing(
        string name, string method, string path, string? contentType, string? body, int expected)
    {
        var client = app.EnsureAvailable().CreateClient();
        var request = new HttpRequestMessage(new HttpMethod(method), path);
        if (body is not null)
        {
            var bytes = Body(body);
            request.Content = new ByteArrayContent(bytes);
            if (contentType is not null) request.Content.Headers.TryAddWithoutValidation("Content-Type", contentType);
        }
        if (body == "@longkey") request.Headers.Add("Idempotency-Key", new string('k', 300));
        if (body?.StartsWith("@twokeys") == true) request.Headers.Add("Idempotency-Key", ["first", "second"]);

        var response = await client.SendAsync(request);

        var problem = await response.ShouldBeProblemAsync((HttpStatusCode)expected);
        Assert.False(string.IsNullOrWhiteSpace(problem.Str("detail")), $"{name}: no detail"); // every problem says what was wrong, errors or not
        Assert.Equal(0, await app.RowCountsAsync());
    }

    /// <summary>The values refused before any query name the field they were in.</summary>
    [Theory]
    [InlineData("GET", "/jobs?tenant_id=a%00b", null, "tenant_id")]
    [InlineData("GET", "/events?tenant_id=a%20b", null, "tenant_id")]
    [InlineData("GET", "/api-keys?tenant_id=a%00b", null, "tenant_id")]
    [InlineData("POST", "/jobs", "{\"type\": \"greet\", \"payload\": {\"name\": \"a\", \"times\": 1e200000}}", "payload")]
    [InlineData("POST", "/jobs", "{\"type\": \"greet\", \"payload\": {\"name\": \"a\", \"tags\": [1e131000]}}", "payload")]
    [InlineData("POST", "/jobs", "{\"type\": \"greet\", \"payload\": {\"name\": \"a\", \"tags\": [0.5e-400]}}", "payload")]
    [InlineData("GET", "/jobs?payload.n=1e200000", null, "payload")]
    [InlineData("POST", "/jobs/bulk/cancel", "{\"filter\": {\"payload\": {\"n\": 1e-20000}}}", "filter.payload")]
    [InlineData("GET", "/jobs/0193a5f0-0000-7000-8000-000000000001/logs?after=-1", null, "after")]
    [InlineData("GET", "/jobs/0193a5f0-0000-7000-8000-000000000001/logs?limit=0", null, "limit")]
    [InlineData("POST", "/jobs/bulk/cancel", "{\"filter\": {\"tenant_id\": \"a b\"}}", "filter.tenant_id")]
    [InlineData("POST", "/jobs/bulk/cancel", "{\"filter\": {\"status\": [null]}}", "filter.status")]
    [InlineData("POST", "/jobs/bulk/cancel", "{\"filter\": {\"type\": [null]}}", "filter.type")]
    [InlineData("POST", "/jobs/bulk/delete", "{\"filter\": {\"status\": [\" \"]}}", "filter.status")]
    [InlineData("POST", "/jobs/bulk/delete", "{\"filter\": {\"type\": []}}", "filter.type")]
    [InlineData("GET", "/jobs?status=", null, "status")]
    [InlineData("GET", "/jobs?type=", null, "type")]
    [InlineData("GET", "/jobs?payload.name=a%00b", null, "payload")]
    [InlineData("GET", "/jobs?payload.name=%22%5Cud800%22", null, "payload")]
    [InlineData("POST", "/jobs", "{\"type\": \"greet\", \"payload\": {\"name\": \"a\\ud800\"}}", "payload")]
    [InlineData("POST", "/jobs", "{\"type\": \"greet\", \"payload\": {\"name\": \"a\"}, \"run_at\": \"0001-01-01T00:00:00Z\"}", "run_at")]
    [InlineData("POST", "/api-keys", "{\"name\": \"a\\u0000b\", \"tenant_id\": \"acme\", \"scopes\": [\"jobs:read\"]}", "name")]
    [InlineData("POST", "/jobs", "{\"type\": \"greet\", \"payload\": {\"name\": \"a\"}, \"callback_url\": \"https://hooks.example.com/\\u0000x\"}", "callback_url")]
    [InlineData("POST", "/jobs", "{\"type\": \"greet\", \"payload\": {\"name\": \"a\"}, \"callback_url\": \"https://hooks.example.com/a\\nb\"}", "callback_url")]
    [InlineData("POST", "/jobs", "{}", "type")] // a field left out is named as one sent wrong is
    [InlineData("POST", "/jobs/batch", "{\"jobs\": [{\"type\": \"greet\"}, {}]}", "jobs[1].type")]
    [InlineData("POST", "/jobs/batch", "{}", "jobs")]
    public async Task AValueRefusedBeforeAnyQueryNamesItsField(string method, string path, string? body, string field)
    {
        var request = new HttpRequestMessage(new HttpMethod(method), path);
        if (body is not null) request.Content = new StringContent(body, Encoding.UTF8, "application/json");

        var problem = await (await app.EnsureAvailable().CreateClient().SendAsync(request)).ShouldBeProblemAsync(HttpStatusCode.BadRequest);

        Assert.True(problem.GetProperty("errors").TryGetProperty(field, out _), problem.ToString());
    }

    /// <summary>
    /// Regression: a query parameter an endpoint does not take was ignored (GET /jobs?stauts=failed
    /// listed every job). It is a 400 naming it and what the endpoint takes; the parameters it does
    /// take pass in any case, as ASP.NET binds them, and so does the cache-busting <c>_</c>.
    /// </summary>
    [Fact]
    public async Task AQueryParameterTheEndpointDoesNotTakeIsA400NamingIt()
    {
        var client = app.EnsureAvailable().CreateClient();

        var problem = await (await client.GetAsync("/jobs?stauts=failed&limit=5")).ShouldBeProblemAsync(HttpStatusCode.BadRequest);
        Assert.Contains("'stauts' is not a query parameter", string.Join(" ", problem.GetProperty("errors").GetProperty("stauts").EnumerateArray()));
        Assert.Contains("status", problem.Str("detail"));
        Assert.Contains("payload.…", problem.Str("detail"));
        Assert.False(problem.GetProperty("errors").TryGetProperty("limit", out _));
        // A query of two hundred names gets a small answer: a few named, clipped, the rest counted.
        var flood = await client.GetAsync("/jobs?" + string.Join("&", Enumerable.Range(0, 200).Select(i => $"{new string('x', 30)}{i}=1")));
        var floodText = await flood.Content.ReadAsStringAsync();
        var floodProblem = await flood.ShouldBeProblemAsync(HttpStatusCode.BadRequest);
        Assert.InRange(floodProblem.GetProperty("errors").EnumerateObject().Count(), 1, 5);
        Assert.Contains("200 other names given", floodProblem.Str("detail"));
        Assert.True(floodText.Length < 2_000, $"{floodText.Length} characters");
        foreach (var path in new[] { $"/jobs/{SomeId}?verbose=1", $"/jobs/{SomeId}/logs?page=2", "/jobs/stats?windw=1h", "/job-types?x=1" })
            Assert.True((await (await client.GetAsync(path)).ShouldBeProblemAsync(HttpStatusCode.BadRequest)).GetProperty("errors").EnumerateObject().Any(), path);

        foreach (var path in new[] { "/jobs?Status=failed&LIMIT=5", "/jobs?payload.name=a&_=1733390000", "/jobs/stats?window=1h&bucket=5m&_=2", "/job-types?_=3" })
        {
            var response = await client.GetAsync(path);
            Assert.True(response.StatusCode == HttpStatusCode.OK, $"{path}: {(int)response.StatusCode} {await response.Content.ReadAsStringAsync()}");
        }
        Assert.Equal(HttpStatusCode.NotFound, (await client.GetAsync($"/jobs/{SomeId}?_=4")).StatusCode);
        Assert.Equal(5, (await (await client.GetAsync("/jobs?Status=failed&LIMIT=5")).ReadJsonAsync()).GetProperty("limit").GetInt32()); // taken, not just let through
    }

    /// <summary>
    /// Regression: a value ASP.NET could not bind was a 400 that named .NET types ("Nullable&lt;int&gt;
    /// limit", "JobService.BuiltIn…", "Did you mean to use a Service") and no field.
    /// </summary>
    [Theory]
    [InlineData("GET", "/jobs?limit=abc", null, "limit", "limit must be a whole number within its range, not 'abc'.")]
    [InlineData("GET", "/jobs?limit=99999999999", null, "limit", "limit must be a whole number within its range, not '99999999999'.")]
    [InlineData("GET", "/jobs?created_after=notadate", null, "created_after", "created_after must be a time in ISO 8601")]
    [InlineData("POST", "/jobs", "{\"type\": \"greet\", \"payload\": {\"name\": 1}}", "payload.name", "must be of type string")]
    [InlineData("POST", "/jobs", "{\"type\": \"greet\", \"priority\": \"high\", \"payload\": {\"name\": \"a\"}}", "priority", "The value must be a whole number within its range.")]
    [InlineData("POST", "/jobs", "{\"type\": \"greet\", \"priority\": 99999999999, \"payload\": {\"name\": \"a\"}}", "priority", "The value must be a whole number within its range.")]
    [InlineData("POST", "/jobs", "{\"type\": \"greet\", \"run_at\": true, \"payload\": {\"name\": \"a\"}}", "run_at", "The value must be a time in ISO 8601")]
    [InlineData("GET", "/jobs?created_after=9999-12-31T23:59:59-10:00", null, "created_after", "within the years 0001 to 9999 in UTC")]
    [InlineData("POST", "/jobs", "{\"type\": \"echo\", \"payload\": {\"text\": \"TOO_LONG\"}}", "payload.text", "The field text must be a string with a maximum length of 10000.")]
    [InlineData("GET", "/jobs/stats?window=0s&bucket=10s", null, "window", "a whole number from 1 up and a unit")]
    [InlineData("POST", "/jobs", "{\"type\": \"greet\", \"type\": \"greet\", \"payload\": {\"name\": \"a\"}}", null, "The field 'type' is given more than once.")]
    [InlineData("POST", "/jobs", "", null, "The request needs a JSON body.")]
    [InlineData("POST", "/deliveries/not-a-uuid/redeliver", null, null, "The delivery id in the path is not a UUID.")]
    public async Task AValueThatCannotBeReadIsSaidInTheClientsTerms(string method, string path, string? body, string? field, string message)
    {
        var request = new HttpRequestMessage(new HttpMethod(method), path);
        if (body is not null) request.Content = new StringContent(body.Replace("TOO_LONG", new string('x', 10_001)), Encoding.UTF8, "application/json");

        var response = await app.EnsureAvailable().CreateClient().SendAsync(request);
        var text = await response.Content.ReadAsStringAsync();

        var problem = await response.ShouldBeProblemAsync(HttpStatusCode.BadRequest);
        Assert.Contains(message, field is null ? problem.Str("detail") : string.Join(" ", problem.GetProperty("errors").GetProperty(field).EnumerateArray()));
        foreach (var word in new[] { "Nullable", "JobService.", "System.", "Service instead", "Int32", "Int64" })
            Assert.DoesNotContain(word, text);
        // snake_case, as every other field (docs/decisions.md); the trace's id alone, as logs and events carry it (it was a whole traceparent)
        Assert.Matches("^[0-9a-f]{32}$", problem.Str("trace_id"));
    }

    /// <summary>Regression: an action that takes no body answered 200 to one whose fields it ignored (a retry "with" max_attempts changed nothing).</summary>
    [Theory]
    [InlineData("/jobs/{id}/retry", "{\"max_attempts\": 7}", 400)]
    [InlineData("/jobs/{id}/cancel", "{\"reason\": \"late\"}", 400)]
    [InlineData("/job-types/greet/resume", "{\"bogus\": 1}", 400)]
    [InlineData("/jobs/{id}/cancel", " { } ", 200)]
    [InlineData("/jobs/{id}/cancel", "null", 200)]
    [InlineData("/jobs/{id}/cancel", "", 200)]
    public async Task AnActionThatTakesNoBodyRefusesOneThatSaysSomething(string path, string body, int status)
    {
        var client = app.EnsureAvailable().CreateClient();
        var id = (await (await client.PostAsync("/jobs", new StringContent("{\"type\": \"greet\", \"payload\": {\"name\": \"a\"}, \"run_at\": \"2999-01-01T00:00:00Z\"}",
            Encoding.UTF8, "application/json"))).ReadJsonAsync()).Id();

        var response = await client.PostAsync(path.Replace("{id}", id.ToString()), new StringContent(body, Encoding.UTF8, "application/json"));

        if (status == 400) Assert.Contains("takes no request body", (await response.ShouldBeProblemAsync(HttpStatusCode.BadRequest)).Str("detail"));
        else Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(status == 400 ? "pending" : "cancelled", (await (await client.GetAsync($"/jobs/{id}")).ReadJsonAsync()).Str("status"));
    }

    /// <summary>Bytes that are not UTF-8 are called that (they were "the wrong JSON type", or "half of a surrogate pair" in a payload).</summary>
    [Theory]
    [InlineData("@badutf8", "type", "The text is not valid UTF-8.")]
    [InlineData("@badutf8payload", "payload", "bytes that are not UTF-8")]
    public async Task BytesThatAreNotUtf8AreCalledThat(string body, string field, string message)
    {
        var content = new ByteArrayContent(Body(body));
        content.Headers.ContentType = new("application/json");

        var problem = await (await app.EnsureAvailable().CreateClient().PostAsync("/jobs", content)).ShouldBeProblemAsync(HttpStatusCode.BadRequest);

        Assert.Contains(message, string.Join(" ", problem.GetProperty("errors").GetProperty(field).EnumerateArray()));
    }

    /// <summary>A delete takes no body either: {"revoke_at": …} on a key's, a reason on a job's, would be ignored.</summary>
    [Fact]
    public async Task ADeleteWithABodyThatSaysSomethingIsRefused()
    {
        var client = app.EnsureAvailable().CreateClient();
        var id = (await (await client.PostAsync("/jobs", new StringContent("{\"type\": \"greet\", \"payload\": {\"name\": \"a\"}, \"run_at\": \"2999-01-01T00:00:00Z\"}",
            Encoding.UTF8, "application/json"))).ReadJsonAsync()).Id();
        Assert.Equal(HttpStatusCode.OK, (await client.PostAsync($"/jobs/{id}/cancel", null)).StatusCode);

        var refused = await client.SendAsync(new HttpRequestMessage(HttpMethod.Delete, $"/jobs/{id}") { Content = new StringContent("{\"reason\": \"old\"}", Encoding.UTF8, "application/json") });

        Assert.Contains("takes no request body", (await refused.ShouldBeProblemAsync(HttpStatusCode.BadRequest)).Str("detail"));
        Assert.Equal(HttpStatusCode.OK, (await client.GetAsync($"/jobs/{id}")).StatusCode); // still there
        Assert.Equal(HttpStatusCode.NoContent, (await client.DeleteAsync($"/jobs/{id}")).StatusCode);
    }

    /// <summary>HTTP allows a parameter's value quoted: charset="utf-8" is read as UTF-8 (ASP.NET's JSON reader alone answered 500).</summary>
    [Fact]
    public async Task AQuotedCharsetIsRead()
    {
        var request = new HttpRequestMessage(HttpMethod.Post, "/jobs") { Content = new ByteArrayContent(Body("{\"type\": \"greet\", \"payload\": {\"name\": \"Zoë 日本\"}}")) };
        request.Content.Headers.TryAddWithoutValidation("Content-Type", "application/json; charset=\"utf-8\"");

        var response = await app.EnsureAvailable().CreateClient().SendAsync(request);

        var body = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == HttpStatusCode.Created, body);
        Assert.Equal("Zoë 日本", System.Text.Json.JsonDocument.Parse(body).RootElement.GetProperty("payload").GetProperty("name").GetString()); // read as UTF-8
    }

    static byte[] Body(string body) => body switch
    {
        "@deep" => Encoding.UTF8.GetBytes("{\"type\": \"greet\", \"payload\": {\"name\": \"a\", \"tags\": " +
            string.Concat(Enumerable.Repeat("[", 200)) + string.Concat(Enumerable.Repeat("]", 200)) + "}}"),
        "@hugetype" => Encoding.UTF8.GetBytes($"{{\"type\": \"{new string('t', 10_000)}\", \"payload\": {{}}}}"),
        "@hugename" => Encoding.UTF8.GetBytes($"{{\"type\": \"greet\", \"payload\": {{\"name\": \"{new string('n', 500_000)}\"}}}}"),
        "@toolarge" => Encoding.UTF8.GetBytes($"{{\"type\": \"greet\", \"payload\": {{\"name\": \"{new string('x', 2_000_000)}\"}}}}"),
        "@badutf8" => [.. Encoding.UTF8.GetBytes("{\"type\": \"gr"), 0xC3, 0x28, 0xFF, .. Encoding.UTF8.GetBytes("eet\"}")],
        "@badutf8payload" => [.. Encoding.UTF8.GetBytes("{\"type\": \"greet\", \"payload\": {\"name\": \"a"), 0xC3, 0x28, 0xFF, .. Encoding.UTF8.GetBytes("\"}}")],
        "@longkey" or "@twokeys" => Encoding.UTF8.GetBytes("{\"type\": \"greet\", \"payload\": {\"name\": \"a\"}}"),
        "@twokeysbatch" => Encoding.UTF8.GetBytes("{\"jobs\": [{\"type\": \"greet\", \"payload\": {\"name\": \"a\"}}]}"),
        _ when body.StartsWith("@callback:") => Encoding.UTF8.GetBytes(
            $"{{\"type\": \"greet\", \"payload\": {{\"name\": \"a\"}}, \"callback_url\": \"{body["@callback:".Length..]}\"}}"),
        _ => Encoding.UTF8.GetBytes(body),
    };

    public async ValueTask InitializeAsync()
    {
        if (app.IsAvailable) await app.ResetAsync();
    }

    public ValueTask DisposeAsync() => ValueTask.CompletedTask;
}

public sealed class SqliteBadInputTests(SqliteApp app) : BadInputContract(app), IClassFixture<SqliteApp>;

public sealed class PostgresBadInputTests(PostgresApp app) : BadInputContract(app), IClassFixture<PostgresApp>;
