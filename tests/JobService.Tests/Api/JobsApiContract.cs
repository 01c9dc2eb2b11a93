using System.Net.Http.Headers;
using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using JobService.Data;
using JobService.Tests.Infrastructure;
using Microsoft.EntityFrameworkCore;

namespace JobService.Tests.Api;

/// <summary>The HTTP contract of SPEC.md, run against each provider by the subclasses.</summary>
public abstract class JobsApiContract(TestApp app) : IAsyncLifetime
{
    public async ValueTask InitializeAsync()
    {
        if (app.IsAvailable) await app.ResetAsync();
    }

    public ValueTask DisposeAsync() => ValueTask.CompletedTask;

    protected TestApp App => app.EnsureAvailable();
    HttpClient? _client;
    protected HttpClient Client => _client ??= App.CreateClient();

    [Fact]
    public async Task PostingAValidJobReturns201WithLocationAndTheJobInSnakeCase()
    {
        var response = await Client.PostAsJsonAsync("/jobs", new { type = "greet", payload = new { name = "Ada", times = 2 }, priority = 5 });

        Assert.Equal(HttpStatusCode.Created, response.StatusCode);
        var job = await response.ReadJsonAsync();
        Assert.Equal($"/jobs/{job.Id()}", response.Headers.Location?.ToString());
        Assert.Equal(7, Guid.Parse(job.Str("id")).Version);
        Assert.Equal("greet", job.Str("type"));
        Assert.Equal("pending", job.Str("status"));
        Assert.Equal(0, job.GetProperty("progress").GetInt32());
        Assert.Equal("Ada", job.GetProperty("payload").GetProperty("name").GetString());
        Assert.Equal(JsonValueKind.Null, job.GetProperty("result").ValueKind);
        Assert.Equal(JsonValueKind.Null, job.GetProperty("error").ValueKind);
        Assert.Equal(5, job.GetProperty("priority").GetInt32());
        Assert.Equal(0, job.GetProperty("attempt").GetInt32());
        Assert.Equal(4, job.GetProperty("max_attempts").GetInt32()); // the type's default
        Assert.False(job.GetProperty("cancel_requested").GetBoolean());
        Assert.EndsWith("Z", job.Str("created_at"));
        Assert.EndsWith("Z", job.Str("run_at"));
        foreach (var field in new[] { "message", "updated_at", "started_at", "completed_at", "usage", "callback_url" })
            Assert.True(job.TryGetProperty(field, out _), $"missing field {field}");
    }

    [Fact]
    public async Task GettingAJobReturnsWhatWasStored()
    {
        var created = await App.CreateJobAsync(new { type = "greet", payload = new { name = "Lin" }, run_at = "2030-01-01T10:00:00+02:00" }, Client);

        var job = await (await Client.GetAsync($"/jobs/{created.Id()}")).ReadJsonAsync();

        Assert.Equal(created.Id(), job.Id());
        Assert.Equal("2030-01-01T08:00:00Z", job.Str("run_at"));
        Assert.Equal("pending", job.Str("status"));
        Assert.Equal("Lin", job.GetProperty("payload").GetProperty("name").GetString());
    }

    /// <summary>
    /// Regression: the 201 said the times as the clock gave them (7 fractional digits), and every
    /// read after it (PostgreSQL keeps microseconds), an idempotent replay included, said them otherwise.
    /// </summary>
    [Fact]
    public async Task TheTimesASubmitAnswersAreTheTimesEveryReadAnswers()
    {
        var created = await App.CreateJobAsync(new { type = "greet", payload = new { name = "Lin" }, run_at = "2030-01-01T10:00:00.1234567+02:00" }, Client);
        var batch = await (await Client.PostAsJsonAsync("/jobs/batch", new { jobs = new[] { new { type = "greet", payload = new { name = "Ode" } } } })).ReadJsonAsync();

        foreach (var answered in new[] { created, batch.GetProperty("items")[0] })
        {
            var read = await (await Client.GetAsync($"/jobs/{answered.Id()}")).ReadJsonAsync();
            foreach (var field in new[] { "created_at", "updated_at", "run_at" })
                Assert.Equal(read.Str(field), answered.Str(field));
        }
        Assert.Equal("2030-01-01T08:00:00.123456Z", created.Str("run_at"));
    }

    /// <summary>
    /// GET /jobs/{id} reads its row with a statement of its own (Api/JobById), the list through EF
    /// Core: both answer a job with every shown column set (result, usage, callbacks, times, a
    /// fractional cost) in the same words, to the character.
    /// </summary>
    [Fact]
    public async Task GettingAJobAnswersEveryFieldAsTheListDoes()
    {
        var id = (await App.CreateJobAsync(new
        {
            type = "greet", payload = new { name = "Every", times = 3 }, priority = 7, run_at = "2030-01-01T10:00:00.123456+02:00",
            callback_url = "https://example.com/hook", callback_events = new[] { "job.completed", "job.failed" },
        }, Client)).Id();
        var started = new DateTime(2030, 1, 1, 8, 0, 1, 250, DateTimeKind.Utc);
        await App.WithDbAsync(db => db.Jobs.Where(j => j.Id == id).ExecuteUpdateAsync(u => u
            .SetProperty(j => j.Status, JobStatus.Completed).SetProperty(j => j.Attempt, 2).SetProperty(j => j.Progress, 100)
            .SetProperty(j => j.Message, "Completed").SetProperty(j => j.Result, """{"text": "done", "n": [1, 2.5]}""")
            .SetProperty(j => j.Error, "an earlier attempt's error").SetProperty(j => j.CancelRequested, true)
            .SetProperty(j => j.StartedAt, started).SetProperty(j => j.CompletedAt, started.AddSeconds(3.5))
            .SetProperty(j => j.PromptTokens, 120).SetProperty(j => j.CompletionTokens, 30).SetProperty(j => j.TotalTokens, 150)
            .SetProperty(j => j.CostUsd, 0.000123).SetProperty(j => j.UsageDetail, """{"model": "m", "provider": "p", "repairs": 1}""")));

        var one = await Client.GetAsync($"/jobs/{id}");
        var listed = (await (await Client.GetAsync($"/jobs?id_prefix={id}")).ReadJsonAsync()).GetProperty("items");

        Assert.Equal(HttpStatusCode.OK, one.StatusCode);
        Assert.Equal(1, listed.GetArrayLength());
        var job = await one.ReadJsonAsync();
        Assert.Equal(listed[0].GetRawText(), job.GetRawText());
        Assert.Equal(0.000123, job.GetProperty("usage").GetProperty("cost_usd").GetDouble());
        Assert.Equal("2030-01-01T08:00:04.75Z", job.Str("completed_at"));
        Assert.Equal("m", job.GetProperty("usage").GetProperty("model").GetString());
    }

    [Fact]
    public async Task GettingAnUnknownJobReturns404ProblemDetails()
    {
        var id = Guid.CreateVersion7();
        var problem = await (await Client.GetAsync($"/jobs/{id}")).ShouldBeProblemAsync(HttpStatusCode.NotFound);
        Assert.Contains(id.ToString(), problem.Str("detail"));
    }

    [Fact]
    public async Task GettingANonUuidIdReturns400ProblemDetails()
    {
        var problem = await (await Client.GetAsync("/jobs/not-a-uuid")).ShouldBeProblemAsync(HttpStatusCode.BadRequest);
        Assert.Contains("not a UUID", problem.Str("detail"));
    }

    [Fact]
    public async Task PostingAnUnknownTypeReturnsProblemDetailsListingKnownTypes()
    {
        var response = await Client.PostAsJsonAsync("/jobs", new { type = "summon_dragon", payload = new { } });

        var problem = await response.ShouldBeProblemAsync(HttpStatusCode.BadRequest);
        var message = problem.GetProperty("errors").GetProperty("type")[0].GetString()!;
        Assert.Contains("summon_dragon", message);
        Assert.Contains("greet", message);
        Assert.Contains("echo", message);
        Assert.Equal(0, await App.RowCountsAsync());
    }

    [Fact]
    public async Task PostingAnInvalidPayloadReturnsFieldErrors()
    {
        var response = await Client.PostAsJsonAsync("/jobs", new { type = "greet", payload = new { name = "", times = 99 } });

        var errors = (await response.ShouldBeProblemAsync(HttpStatusCode.BadRequest)).GetProperty("errors");
        Assert.True(errors.TryGetProperty("payload.name", out _), errors.ToString());
        Assert.True(errors.TryGetProperty("payload.times", out _), errors.ToString());
    }

    [Theory]
    [InlineData("{\"times\": 2}", "payload.name")]
    [InlineData("{\"name\": \"x\", \"times\": \"two\"}", "payload.times")]
    [InlineData("{\"name\": \"x\", \"colour\": \"red\"}", "payload.colour")]
    [InlineData("[1, 2]", "payload")]
    public async Task PayloadErrorsNameTheField(string payload, string field)
    {
        var response = await Client.PostAsync("/jobs", Http.Json($"{{\"type\": \"greet\", \"payload\": {payload}}}"));

        var errors = (await response.ShouldBeProblemAsync(HttpStatusCode.BadRequest)).GetProperty("errors");
        Assert.True(errors.TryGetProperty(field, out _), errors.ToString());
        Assert.Equal(0, await App.RowCountsAsync());
    }

    [Fact]
    public async Task TheSameIdempotencyKeyReturnsTheFirstJobNotASecond()
    {
        var body = new { type = "greet", payload = new { name = "Once" } };
        var first = await Send(body, "key-1");
        var second = await Send(body, "key-1");

        Assert.Equal(HttpStatusCode.Created, first.StatusCode);
        Assert.Equal(HttpStatusCode.OK, second.StatusCode);
        Assert.Equal((await first.ReadJsonAsync()).Id(), (await second.ReadJsonAsync()).Id());
        Assert.Equal(1, await App.WithDbAsync(db => db.Jobs.CountAsync(j => j.IdempotencyKey == "key-1")));
    }

    [Fact]
    public async Task AnIdempotencyKeyReusedWithAnotherBodyIs422()
    {
        var first = await (await Send(new { type = "greet", payload = new { name = "A" } }, "key-2")).ReadJsonAsync();

        var response = await Send(new { type = "greet", payload = new { name = "B" } }, "key-2");

        var problem = await response.ShouldBeProblemAsync(HttpStatusCode.UnprocessableEntity);
        Assert.Equal(first.Id(), problem.GetProperty("job_id").GetGuid());
        Assert.Contains("key-2", problem.Str("detail"));
    }

    [Fact]
    public async Task ConcurrentRequestsWithOneIdempotencyKeyCreateOneJob()
    {
        var body = new { type = "greet", payload = new { name = "Race" } };
        var responses = await Task.WhenAll(Enumerable.Range(0, 8).Select(_ => Send(body, "key-race")));

        Assert.All(responses, r => Assert.True(r.StatusCode is HttpStatusCode.Created or HttpStatusCode.OK, r.StatusCode.ToString()));
        Assert.Single(responses, r => r.StatusCode == HttpStatusCode.Created);
        var ids = await Task.WhenAll(responses.Select(async r => (await r.ReadJsonAsync()).Id()));
        Assert.Single(ids.Distinct());
    }

    Task<HttpResponseMessage> Send(object body, string key)
    {
        var request = new HttpRequestMessage(HttpMethod.Post, "/jobs") { Content = JsonContent.Create(body) };
        request.Headers.Add("Idempotency-Key", key);
        return Client.SendAsync(request);
    }

    [Fact]
    public async Task ListingFiltersAndPagesInSqlNewestFirst()
    {
        var ids = new List<Guid>();
        for (var i = 0; i < 5; i++) ids.Add((await App.CreateJobAsync(new { type = "greet", payload = new { name = $"n{i}" } }, Client)).Id());
        ids.Add((await App.CreateJobAsync(new { type = "echo", payload = new { text = "e" } }, Client)).Id());
        await SetStatus(ids[0], JobStatus.Failed);
        await SetStatus(ids[1], JobStatus.Completed);

        var all = await (await Client.GetAsync("/jobs?limit=4")).ReadJsonAsync();
        Assert.Equal(6, all.GetProperty("total").GetInt32());
        Assert.Equal(4, all.GetProperty("limit").GetInt32());
        Assert.Equal(0, all.GetProperty("offset").GetInt32());
        Assert.Equal(ids.AsEnumerable().Reverse().Take(4), all.GetProperty("items").EnumerateArray().Select(j => j.Id()));

        var page2 = await (await Client.GetAsync("/jobs?limit=4&offset=4")).ReadJsonAsync();
        Assert.Equal([ids[1], ids[0]], page2.GetProperty("items").EnumerateArray().Select(j => j.Id()));

        var finished = await (await Client.GetAsync("/jobs?status=failed&status=completed")).ReadJsonAsync();
        Assert.Equal(2, finished.GetProperty("total").GetInt32());
        var comma = await (await Client.GetAsync("/jobs?status=failed,completed&type=greet")).ReadJsonAsync();
        Assert.Equal(2, comma.GetProperty("total").GetInt32());

        var echo = await (await Client.GetAsync("/jobs?type=echo")).ReadJsonAsync();
        Assert.Equal([ids[5]], echo.GetProperty("items").EnumerateArray().Select(j => j.Id()));

        var future = DateTime.UtcNow.AddMinutes(5).ToString("O");
        var none = await (await Client.GetAsync($"/jobs?created_after={Uri.EscapeDataString(future)}")).ReadJsonAsync();
        Assert.Equal(0, none.GetProperty("total").GetInt32());
        var before = await (await Client.GetAsync($"/jobs?created_before={Uri.EscapeDataString(future)}&status=pending")).ReadJsonAsync();
        Assert.Equal(4, before.GetProperty("total").GetInt32());
    }

    [Fact]
    public async Task ListingWithAnUnknownStatusNamesTheValidOnes()
    {
        var problem = await (await Client.GetAsync("/jobs?status=PENDING")).ShouldBeProblemAsync(HttpStatusCode.BadRequest);
        var message = problem.GetProperty("errors").GetProperty("status")[0].GetString()!;
        Assert.Contains("pending, running, completed, failed, cancelled", message);
    }

    [Fact]
    public async Task LogsComeOldestFirstAndPageWithAfter()
    {
        var id = (await App.CreateJobAsync(new { type = "greet", payload = new { name = "Log" } }, Client)).Id();
        await App.WithDbAsync(async db =>
        {
            for (var i = 1; i <= 5; i++) // seq 1 is the job's "created" line
                db.JobEvents.Add(new JobEvent { JobId = id, Seq = 1 + i, Kind = "log", CreatedAt = DateTime.UtcNow, Level = "info", Message = $"line {i}", Data = "{\"attempt\":1}" });
            return await db.SaveChangesAsync();
        });

        var first = await (await Client.GetAsync($"/jobs/{id}/logs?limit=3")).ReadJsonAsync();
        var items = first.GetProperty("items").EnumerateArray().ToList();
        Assert.Equal(["Created by POST /jobs", "line 1", "line 2"], items.Select(l => l.Str("message")));
        Assert.Equal([1L, 2L, 3L], items.Select(l => l.GetProperty("seq").GetInt64()));
        Assert.Equal("info", items[1].Str("level"));
        Assert.Equal(1, items[1].GetProperty("attempt").GetInt32());
        var after = first.GetProperty("next_after").GetInt64();

        var rest = await (await Client.GetAsync($"/jobs/{id}/logs?after={after}")).ReadJsonAsync();
        Assert.Equal(["line 3", "line 4", "line 5"], rest.GetProperty("items").EnumerateArray().Select(l => l.Str("message")));
        Assert.Equal(JsonValueKind.Null, rest.GetProperty("next_after").ValueKind);
    }

    [Fact]
    public async Task LogsOfAnUnknownJobAre404()
    {
        await (await Client.GetAsync($"/jobs/{Guid.CreateVersion7()}/logs")).ShouldBeProblemAsync(HttpStatusCode.NotFound);
    }

    [Fact]
    public async Task CancellingAPendingJobCancelsItAtOnce()
    {
        var id = (await App.CreateJobAsync(new { type = "greet", payload = new { name = "C" } }, Client)).Id();

        var job = await (await Client.PostAsync($"/jobs/{id}/cancel", null)).ReadJsonAsync();

        Assert.Equal("cancelled", job.Str("status"));
        Assert.NotEqual(JsonValueKind.Null, job.GetProperty("completed_at").ValueKind);
    }

    [Fact]
    public async Task CancellingARunningJobSetsTheFlagForItsWorker()
    {
        var id = (await App.CreateJobAsync(new { type = "greet", payload = new { name = "R" } }, Client)).Id();
        await SetStatus(id, JobStatus.Running);

        var job = await (await Client.PostAsync($"/jobs/{id}/cancel", null)).ReadJsonAsync();

        Assert.Equal("running", job.Str("status"));
        Assert.True(job.GetProperty("cancel_requested").GetBoolean());
    }

    [Fact]
    public async Task CancellingACompletedJobIs409NamingItsStatus()
    {
        var id = (await App.CreateJobAsync(new { type = "greet", payload = new { name = "D" } }, Client)).Id();
        await SetStatus(id, JobStatus.Completed);

        var problem = await (await Client.PostAsync($"/jobs/{id}/cancel", null)).ShouldBeProblemAsync(HttpStatusCode.Conflict);

        Assert.Equal("completed", problem.Str("current_status"));
        Assert.Contains("completed", problem.Str("detail"));
    }

    [Fact]
    public async Task RetryingAFailedJobPutsItBackToPendingWithFreshAttempts()
    {
        var id = (await App.CreateJobAsync(new { type = "greet", payload = new { name = "F" } }, Client)).Id();
        await App.WithDbAsync(db => db.Jobs.Where(j => j.Id == id).ExecuteUpdateAsync(u => u
            .SetProperty(j => j.Status, JobStatus.Failed).SetProperty(j => j.Attempt, 4)
            .SetProperty(j => j.Error, "boom").SetProperty(j => j.Progress, 40)));

        var job = await (await Client.PostAsync($"/jobs/{id}/retry", null)).ReadJsonAsync();

        Assert.Equal("pending", job.Str("status"));
        Assert.Equal(0, job.GetProperty("attempt").GetInt32());
        Assert.Equal(0, job.GetProperty("progress").GetInt32());
        Assert.Equal(JsonValueKind.Null, job.GetProperty("error").ValueKind);
    }

    [Theory]
    [InlineData(JobStatus.Running)]
    [InlineData(JobStatus.Pending)]
    [InlineData(JobStatus.Completed)]
    public async Task RetryingAJobThatHasNotFailedIs409(JobStatus status)
    {
        var id = (await App.CreateJobAsync(new { type = "greet", payload = new { name = "G" } }, Client)).Id();
        await SetStatus(id, status);

        var problem = await (await Client.PostAsync($"/jobs/{id}/retry", null)).ShouldBeProblemAsync(HttpStatusCode.Conflict);

        Assert.Equal(status.ToName(), problem.Str("current_status"));
    }

    [Fact]
    public async Task DeletingAFinishedJobRemovesItAndItsLogs()
    {
        var id = (await App.CreateJobAsync(new { type = "greet", payload = new { name = "Del" } }, Client)).Id();
        await SetStatus(id, JobStatus.Completed);
        Assert.True(await App.WithDbAsync(db => db.JobEvents.AnyAsync(e => e.JobId == id))); // its "created" line at least

        Assert.Equal(HttpStatusCode.NoContent, (await Client.DeleteAsync($"/jobs/{id}")).StatusCode);
        await (await Client.GetAsync($"/jobs/{id}")).ShouldBeProblemAsync(HttpStatusCode.NotFound);
        Assert.Equal(0, await App.RowCountsAsync());
    }

    [Theory]
    [InlineData(JobStatus.Running)]
    [InlineData(JobStatus.Pending)]
    public async Task DeletingAnUnfinishedJobIs409(JobStatus status)
    {
        var id = (await App.CreateJobAsync(new { type = "greet", payload = new { name = "H" } }, Client)).Id();
        await SetStatus(id, status);

        var problem = await (await Client.DeleteAsync($"/jobs/{id}")).ShouldBeProblemAsync(HttpStatusCode.Conflict);

        Assert.Equal(status.ToName(), problem.Str("current_status"));
        Assert.Equal(HttpStatusCode.OK, (await Client.GetAsync($"/jobs/{id}")).StatusCode);
    }

    [Fact]
    public async Task TransitionsOnUnknownJobsAre404()
    {
        var id = Guid.CreateVersion7();
        await (await Client.PostAsync($"/jobs/{id}/cancel", null)).ShouldBeProblemAsync(HttpStatusCode.NotFound);
        await (await Client.PostAsync($"/jobs/{id}/retry", null)).ShouldBeProblemAsync(HttpStatusCode.NotFound);
        await (await Client.DeleteAsync($"/jobs/{id}")).ShouldBeProblemAsync(HttpStatusCode.NotFound);
    }

    [Fact]
    public async Task StatsCountByStatusAndByType()
    {
        var a = (await App.CreateJobAsync(new { type = "greet", payload = new { name = "a" } }, Client)).Id();
        await App.CreateJobAsync(new { type = "greet", payload = new { name = "b" } }, Client);
        await App.CreateJobAsync(new { type = "echo", payload = new { } }, Client);
        await SetStatus(a, JobStatus.Failed);

        var stats = await (await Client.GetAsync("/jobs/stats")).ReadJsonAsync();

        Assert.Equal(3, stats.GetProperty("total").GetInt32());
        Assert.Equal(2, stats.GetProperty("by_status").GetProperty("pending").GetInt32());
        Assert.Equal(1, stats.GetProperty("by_status").GetProperty("failed").GetInt32());
        Assert.Equal(0, stats.GetProperty("by_status").GetProperty("running").GetInt32());
        var greet = stats.GetProperty("by_type").GetProperty("greet");
        Assert.Equal(2, greet.GetProperty("total").GetInt32());
        Assert.Equal(1, greet.GetProperty("by_status").GetProperty("failed").GetInt32());
        Assert.Equal(1, stats.GetProperty("by_type").GetProperty("echo").GetProperty("total").GetInt32());
    }

    [Fact]
    public async Task JobTypesPublishEachPayloadSchemaAndDefaults()
    {
        var types = await (await Client.GetAsync("/job-types")).ReadJsonAsync();

        var greet = types.EnumerateArray().Single(t => t.Str("type") == "greet");
        Assert.Equal(60, greet.GetProperty("timeout_seconds").GetInt32());
        Assert.Equal(4, greet.GetProperty("max_attempts").GetInt32());
        Assert.Equal(2, greet.GetProperty("concurrency").GetInt32());
        var schema = greet.GetProperty("payload_schema");
        Assert.Equal(["name"], schema.GetProperty("required").EnumerateArray().Select(n => n.GetString()));
        Assert.Equal(10, schema.GetProperty("properties").GetProperty("times").GetProperty("maximum").GetInt32());
        Assert.Equal(1, schema.GetProperty("properties").GetProperty("times").GetProperty("default").GetInt32());
        Assert.Equal(50, schema.GetProperty("properties").GetProperty("name").GetProperty("maxLength").GetInt32());
        Assert.False(schema.GetProperty("additionalProperties").GetBoolean());
    }

    [Fact]
    public async Task HealthEndpointsReportLiveAndReadyWithTheDatabase()
    {
        Assert.Equal(HttpStatusCode.OK, (await Client.GetAsync("/health/live")).StatusCode);
        var ready = await Client.GetAsync("/health/ready");
        Assert.Equal(HttpStatusCode.OK, ready.StatusCode);
        var report = await ready.ReadJsonAsync();
        Assert.Equal("healthy", report.Str("status"));
        Assert.Equal("The database is reachable and migrated.", report.GetProperty("checks").GetProperty("database").Str("description"));
    }

    [Fact]
    public async Task ABatchCreatesEveryJobInOneGo()
    {
        var jobs = Enumerable.Range(0, 250).Select(i => new { type = "greet", payload = new { name = $"n{i}" }, priority = i % 3 }).ToList();

        var response = await Client.PostAsJsonAsync("/jobs/batch", new { jobs });

        Assert.Equal(HttpStatusCode.Created, response.StatusCode);
        var items = (await response.ReadJsonAsync()).GetProperty("items").EnumerateArray().ToList();
        Assert.Equal(250, items.Count);
        Assert.All(items, j => Assert.Equal("pending", j.Str("status")));
        Assert.Equal("n7", items[7].GetProperty("payload").GetProperty("name").GetString());
        Assert.Equal(250, await App.WithDbAsync(db => db.Jobs.CountAsync()));
    }

    /// <summary>
    /// Regression: a batch's jobs share one created_at, and their ids, random within a millisecond,
    /// broke the tie: they were listed (and claimed) in random order, not the order sent.
    /// </summary>
    [Fact]
    public async Task ABatchsJobsAreListedNewestFirstInTheOrderTheyWereSent()
    {
        var jobs = Enumerable.Range(0, 300).Select(i => new { type = "greet", payload = new { name = $"n{i}" }, run_at = "2099-01-01T00:00:00Z" }).ToList();
        (await Client.PostAsJsonAsync("/jobs/batch", new { jobs })).EnsureSuccessStatusCode();

        var listed = (await (await Client.GetAsync("/jobs?type=greet&limit=300")).ReadJsonAsync()).GetProperty("items").EnumerateArray()
            .Select(j => j.GetProperty("payload").GetProperty("name").GetString()).ToList();

        Assert.Equal(Enumerable.Range(0, 300).Reverse().Select(i => $"n{i}"), listed);
    }

    [Fact]
    public async Task ABatchWithOneBadJobCreatesNoneAndNamesTheItem()
    {
        var body = new { jobs = new object[] { new { type = "greet", payload = new { name = "ok" } }, new { type = "greet", payload = new { times = 2 } }, new { type = "nope" } } };

        var response = await Client.PostAsJsonAsync("/jobs/batch", body);

        var errors = (await response.ShouldBeProblemAsync(HttpStatusCode.BadRequest)).GetProperty("errors");
        Assert.True(errors.TryGetProperty("jobs[1].payload.name", out _), errors.ToString());
        Assert.True(errors.TryGetProperty("jobs[2].type", out _), errors.ToString());
        Assert.DoesNotContain(errors.EnumerateObject(), e => e.Name.StartsWith("jobs[0]", StringComparison.Ordinal)); // the valid one
        Assert.Equal(0, await App.RowCountsAsync());
    }

    [Theory]
    [InlineData(0)]
    [InlineData(1001)]
    public async Task ABatchMustHoldOneToAThousandJobs(int count)
    {
        var jobs = Enumerable.Range(0, count).Select(_ => new { type = "echo" }).ToList();

        var response = await Client.PostAsJsonAsync("/jobs/batch", new { jobs });

        var errors = (await response.ShouldBeProblemAsync(HttpStatusCode.BadRequest)).GetProperty("errors");
        Assert.Contains("1 to 1000", errors.GetProperty("jobs")[0].GetString());
        Assert.Equal(0, await App.RowCountsAsync());
    }

    [Fact]
    public async Task APollerSendingTheETagBackGets304UntilTheJobChanges()
    {
        var id = (await App.CreateJobAsync(new { type = "greet", payload = new { name = "Poll" }, run_at = DateTime.UtcNow.AddDays(1) }, Client)).Id();
        var first = await Client.GetAsync($"/jobs/{id}");
        var etag = first.Headers.ETag!;
        Assert.Equal("\"1\"", etag.Tag); // the job's event seq: its created event

        var unchanged = new HttpRequestMessage(HttpMethod.Get, $"/jobs/{id}") { Headers = { IfNoneMatch = { etag } } };
        Assert.Equal(HttpStatusCode.NotModified, (await Client.SendAsync(unchanged)).StatusCode);
        // The same tag made weak, as a proxy that compressed the body sends it back: If-None-Match compares weakly.
        var weak = new HttpRequestMessage(HttpMethod.Get, $"/jobs/{id}") { Headers = { IfNoneMatch = { new EntityTagHeaderValue(etag.Tag, isWeak: true) } } };
        Assert.Equal(HttpStatusCode.NotModified, (await Client.SendAsync(weak)).StatusCode);
        (await Client.PostAsync($"/jobs/{id}/cancel", null)).EnsureSuccessStatusCode();
        var changed = await Client.SendAsync(new HttpRequestMessage(HttpMethod.Get, $"/jobs/{id}") { Headers = { IfNoneMatch = { etag } } });

        Assert.Equal(HttpStatusCode.OK, changed.StatusCode);
        Assert.Equal("\"2\"", changed.Headers.ETag!.Tag);
        Assert.Equal("cancelled", (await changed.ReadJsonAsync()).Str("status"));
    }

    async Task<HttpResponseMessage> PostBatchAsync(object body, string key)
    {
        var request = new HttpRequestMessage(HttpMethod.Post, "/jobs/batch") { Content = JsonContent.Create(body) };
        request.Headers.Add("Idempotency-Key", key);
        return await Client.SendAsync(request);
    }

    /// <summary>Regression: a batch refused Idempotency-Key, so a client whose batch died in flight could not safely send it again.</summary>
    [Fact]
    public async Task ABatchSentAgainWithItsIdempotencyKeyReturnsTheSameJobs()
    {
        var body = new { jobs = Enumerable.Range(0, 30).Select(i => new { type = "greet", payload = new { name = $"n{i}" } }).ToList() };

        var first = await PostBatchAsync(body, "batch-1");
        var again = await PostBatchAsync(body, "batch-1");

        Assert.Equal(HttpStatusCode.Created, first.StatusCode);
        Assert.Equal(HttpStatusCode.OK, again.StatusCode);
        var ids = (await first.ReadJsonAsync()).GetProperty("items").EnumerateArray().Select(j => j.Id()).ToList();
        Assert.Equal(ids, (await again.ReadJsonAsync()).GetProperty("items").EnumerateArray().Select(j => j.Id())); // same jobs, same order
        Assert.Equal(30, await App.WithDbAsync(db => db.Jobs.CountAsync()));
    }

    [Fact]
    public async Task ABatchIdempotencyKeyReusedWithAnotherBodyIs422AndCreatesNothing()
    {
        var first = await (await PostBatchAsync(new { jobs = Enumerable.Range(0, 5).Select(i => new { type = "greet", payload = new { name = $"a{i}" } }) }, "batch-2")).ReadJsonAsync();

        var response = await PostBatchAsync(new { jobs = new[] { new { type = "greet", payload = new { name = "b" } } } }, "batch-2");

        var problem = await response.ShouldBeProblemAsync(HttpStatusCode.UnprocessableEntity);
        Assert.Contains("batch-2", problem.Str("detail"));
        Assert.Equal(first.GetProperty("items")[0].Id(), problem.GetProperty("job_id").GetGuid()); // the batch's first job, as for a single job's key
        Assert.Equal(5, await App.WithDbAsync(db => db.Jobs.CountAsync()));
    }

    [Fact]
    public async Task ConcurrentBatchesWithOneIdempotencyKeyCreateOneSetOfJobs()
    {
        var body = new { jobs = Enumerable.Range(0, 20).Select(i => new { type = "greet", payload = new { name = $"n{i}" } }).ToList() };

        var responses = await Task.WhenAll(Enumerable.Range(0, 6).Select(_ => PostBatchAsync(body, "batch-race")));

        Assert.Single(responses, r => r.StatusCode == HttpStatusCode.Created);
        Assert.All(responses, r => Assert.True(r.StatusCode is HttpStatusCode.Created or HttpStatusCode.OK, r.StatusCode.ToString()));
        var sets = await Task.WhenAll(responses.Select(async r => string.Join(",", (await r.ReadJsonAsync()).GetProperty("items").EnumerateArray().Select(j => j.Id()))));
        Assert.Single(sets.Distinct());
        Assert.Equal(20, await App.WithDbAsync(db => db.Jobs.CountAsync()));
    }

    /// <summary>
    /// Regression: with its first job deleted, a batch sent again under its key was a 500 (its
    /// other jobs' keys collided); with another deleted, a 200 that left it out. Now a 409 naming
    /// what remains; once all are deleted the key is free, as a single job's is.
    /// </summary>
    [Theory]
    [InlineData(0)]
    [InlineData(1)]
    public async Task ABatchSentAgainAfterSomeOfItsJobsWereDeletedIs409AndOnceAllAreTheKeyIsFree(int deleted)
    {
        var body = new { jobs = Enumerable.Range(0, 3).Select(i => new { type = "greet", payload = new { name = $"n{i}" } }).ToList() };
        var ids = (await (await PostBatchAsync(body, "batch-del")).ReadJsonAsync()).GetProperty("items").EnumerateArray().Select(j => j.Id()).ToList();
        foreach (var id in ids) await SetStatus(id, JobStatus.Completed);
        Assert.Equal(HttpStatusCode.NoContent, (await Client.DeleteAsync($"/jobs/{ids[deleted]}")).StatusCode);

        var problem = await (await PostBatchAsync(body, "batch-del")).ShouldBeProblemAsync(HttpStatusCode.Conflict);
        Assert.Contains("1 of the 3 jobs", problem.Str("detail"));
        Assert.Equal(ids.Where((_, i) => i != deleted), problem.GetProperty("job_ids").EnumerateArray().Select(j => j.GetGuid()));
        Assert.Equal(2, await App.WithDbAsync(db => db.Jobs.CountAsync()));

        foreach (var id in ids.Where((_, i) => i != deleted)) Assert.Equal(HttpStatusCode.NoContent, (await Client.DeleteAsync($"/jobs/{id}")).StatusCode);
        var anew = await PostBatchAsync(body, "batch-del");
        Assert.Equal(HttpStatusCode.Created, anew.StatusCode);
        Assert.Empty((await anew.ReadJsonAsync()).GetProperty("items").EnumerateArray().Select(j => j.Id()).Intersect(ids));
    }

    /// <summary>A single job's key and a batch's key never meet: the same client key on both makes one job and one batch.</summary>
    [Fact]
    public async Task AKeyUsedForAJobAndForABatchNamesTwoDifferentThings()
    {
        var request = new HttpRequestMessage(HttpMethod.Post, "/jobs") { Content = JsonContent.Create(new { type = "greet", payload = new { name = "single" } }) };
        request.Headers.Add("Idempotency-Key", "shared");
        Assert.Equal(HttpStatusCode.Created, (await Client.SendAsync(request)).StatusCode);

        var batch = await PostBatchAsync(new { jobs = new[] { new { type = "greet", payload = new { name = "batched" } } } }, "shared");

        Assert.Equal(HttpStatusCode.Created, batch.StatusCode);
        Assert.Equal(2, await App.WithDbAsync(db => db.Jobs.CountAsync()));
    }

    /// <summary>Regression: with Accept: text/html an error was an empty 400 (ASP.NET's writer declines), logged as unhandled.</summary>
    [Theory]
    [InlineData("GET", "/jobs/not-a-uuid", null, 400)]
    [InlineData("POST", "/jobs", "{", 400)]
    [InlineData("GET", "/jobs/01a2345b-c1b3-778d-818d-2aeefed93fb8", null, 404)]
    public async Task ErrorsAreProblemDetailsWhateverTheClientAccepts(string method, string path, string? body, int status)
    {
        var request = new HttpRequestMessage(new HttpMethod(method), path);
        request.Headers.Accept.ParseAdd("text/html");
        if (body is not null) request.Content = Http.Json(body);

        var response = await Client.SendAsync(request);

        var problem = await response.ShouldBeProblemAsync((HttpStatusCode)status);
        Assert.False(string.IsNullOrWhiteSpace(problem.Str("detail")));
    }

    protected Task<int> SetStatus(Guid id, JobStatus status) =>
        App.WithDbAsync(db => db.Jobs.Where(j => j.Id == id).ExecuteUpdateAsync(u => u.SetProperty(j => j.Status, status)));
}

public sealed class SqliteJobsApiTests(SqliteApp app) : JobsApiContract(app), IClassFixture<SqliteApp>;

public sealed class PostgresJobsApiTests(PostgresApp app) : JobsApiContract(app), IClassFixture<PostgresApp>
{
    /// <summary>
    /// A read whose server process ends while it runs (a failover, a restart, an admin's
    /// pg_terminate_backend) answers anyway: the read runs again on a new connection. The read is
    /// held on a table lock taken from outside the service, its backend is ended there, then the lock goes.
    /// </summary>
    [Fact]
    public async Task AReadWhoseConnectionEndsMidwayIsRunAgain()
    {
        var id = (await App.CreateJobAsync(new { type = "greet", payload = new { name = "Ada" } }, Client)).GetProperty("id").GetGuid();
        await using var locker = new Npgsql.NpgsqlConnection(App.Database.ConnectionString + ";Pooling=false");
        await using var watcher = new Npgsql.NpgsqlConnection(App.Database.ConnectionString + ";Pooling=false"); // pg_stat_activity holds still within a transaction
        await Task.WhenAll(locker.OpenAsync(), watcher.OpenAsync());
        await using var locked = await locker.BeginTransactionAsync();
        await Exec(locker, "LOCK TABLE jobs IN ACCESS EXCLUSIVE MODE");

        var reading = Client.GetAsync($"/jobs/{id}");
        // The service's read of that job, waiting for the lock (the worker's own statements may wait too).
        const string waitingRead = "FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query LIKE 'SELECT id, type, status, progress, message, payload%'"; // Api/JobById's statement
        await Poll.UntilAsync(async () => await Exec(watcher, $"SELECT COUNT(*) {waitingRead}") == 1, "the read waits for the lock", TimeSpan.FromSeconds(15));
        Assert.Equal(1, await Exec(watcher, $"SELECT COUNT(pg_terminate_backend(pid)) {waitingRead}"));
        await locked.CommitAsync();

        var response = await reading;
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(id, (await response.ReadJsonAsync()).GetProperty("id").GetGuid());

        static async Task<long> Exec(Npgsql.NpgsqlConnection connection, string sql)
        {
            await using var command = new Npgsql.NpgsqlCommand(sql, connection);
            return Convert.ToInt64(await command.ExecuteScalarAsync() ?? 0L);
        }
    }
}
