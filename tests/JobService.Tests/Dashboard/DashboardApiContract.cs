using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using JobService.Data;
using JobService.Tests.Infrastructure;
using Microsoft.EntityFrameworkCore;

namespace JobService.Tests.Dashboard;

/// <summary>
/// The API the dashboard stands on, on each provider: the list's new filters (payload fields,
/// id prefix, several types), bulk actions by ids and by filter, and the stats' time buckets.
/// </summary>
public abstract class DashboardApiContract(ClockedApp app) : ClockedContract(app)
{
    HttpClient? _client;
    HttpClient Client => _client ??= App.CreateClient();

    async Task<Guid> SubmitAsync(string type, object payload) => (await App.CreateJobAsync(new { type, payload }, Client)).Id();

    async Task<JsonElement> ListAsync(string query)
    {
        var response = await Client.GetAsync($"/jobs?{query}");
        Assert.True(response.StatusCode == HttpStatusCode.OK, $"{query}: {(int)response.StatusCode} {await response.Content.ReadAsStringAsync()}");
        return await response.ReadJsonAsync();
    }

    static HashSet<Guid> Ids(JsonElement page) => page.GetProperty("items").EnumerateArray().Select(j => j.Id()).ToHashSet();

    [Fact]
    public async Task ThePayloadFilterMatchesByContainmentWithJsonTypes()
    {
        var fantasy = await SubmitAsync("generate_characters", new { theme = "fantasy", count = 3 });
        var fantasyTwo = await SubmitAsync("generate_characters", new { theme = "fantasy", count = 2 });
        var scifi = await SubmitAsync("generate_characters", new { theme = "scifi", count = 3 });
        var text = await SubmitAsync("text_generation", new { prompt = "fantasy", max_tokens = 3 });

        Assert.Equal([fantasy, fantasyTwo], Ids(await ListAsync("payload.theme=fantasy")));
        Assert.Equal([fantasy], Ids(await ListAsync("payload.theme=fantasy&payload.count=3")));
        Assert.Equal([fantasy, scifi], Ids(await ListAsync("payload.count=3")));
        Assert.Empty(Ids(await ListAsync("payload.count=%223%22"))); // the string "3" is not the number 3
        Assert.Equal([text], Ids(await ListAsync("payload.max_tokens=3&type=text_generation")));
        Assert.Empty(Ids(await ListAsync("payload.theme=Fantasy"))); // values compare exactly
        Assert.Empty(Ids(await ListAsync("payload.nothing=fantasy")));
        Assert.Equal(2, (await ListAsync("payload.theme=fantasy&limit=1")).GetProperty("total").GetInt32()); // counted in SQL, paged in SQL
        // Several statuses are one query each (their partial indexes), each with the payload's filter.
        var several = "payload.theme=fantasy&status=pending&status=running&status=completed";
        Assert.Equal([fantasy, fantasyTwo], Ids(await ListAsync(several)));
        Assert.Equal(2, (await ListAsync(several + "&limit=1")).GetProperty("total").GetInt32());
    }

    [Fact]
    public async Task ThePayloadFilterFollowsNestedPathsAndBooleans()
    {
        var strict = await SubmitAsync("structured_generation", new { instructions = "p", schema = new { type = "object", additionalProperties = false } });
        var loose = await SubmitAsync("structured_generation", new { instructions = "p", schema = new { type = "object", additionalProperties = true } });
        var titled = await SubmitAsync("structured_generation", new { instructions = "p", schema = new { type = "object", title = "string" } });

        Assert.Equal([strict], Ids(await ListAsync("payload.schema.additionalProperties=false")));
        Assert.Equal([loose], Ids(await ListAsync("payload.schema.additionalProperties=true")));
        Assert.Equal([strict, loose, titled], Ids(await ListAsync("payload.schema.type=object")));
        Assert.Equal([titled], Ids(await ListAsync("payload.schema.title=string")));
        Assert.Empty(Ids(await ListAsync("payload.schema.type.deeper=object")));
        Assert.Empty(Ids(await ListAsync("payload.schema.additionalProperties=%22false%22"))); // a boolean is not the string "false"
    }

    [Fact]
    public async Task TheListTakesSeveralTypesAndAnIdPrefix()
    {
        var echo = await SubmitAsync("echo", new { text = "a" });
        var greet = await SubmitAsync("greet", new { name = "b" });
        await SubmitAsync("scripted", new { key = "c" });

        Assert.Equal([echo, greet], Ids(await ListAsync("type=echo&type=greet")));
        Assert.Equal([echo, greet], Ids(await ListAsync("type=echo,greet")));
        var id = echo.ToString();
        Assert.Equal([echo], Ids(await ListAsync($"id_prefix={id[..30]}")));
        Assert.Equal([echo], Ids(await ListAsync($"id_prefix={id.ToUpperInvariant()}")));
        Assert.Contains(echo, Ids(await ListAsync($"id_prefix={id[..4]}")));
    }

    [Theory]
    [InlineData("id_prefix=xyz", "id_prefix")]
    [InlineData("id_prefix=0190ab12345", "id_prefix")] // a dash belongs at the ninth place
    [InlineData("payload.a%5B0%5D=1", "payload")]
    [InlineData("payload.theme=a&payload.theme.x=b", "payload")]
    [InlineData("payload.a=1&payload.a=2", "payload")]
    [InlineData("payload.a.b.c.d.e=1", "payload")]
    [InlineData("type=Echo", "type")]
    public async Task AMalformedFilterIsA400NamingTheField(string query, string field)
    {
        var problem = await (await Client.GetAsync($"/jobs?{query}")).ShouldBeProblemAsync(HttpStatusCode.BadRequest);

        Assert.True(problem.GetProperty("errors").TryGetProperty(field, out var messages), problem.ToString());
        Assert.False(string.IsNullOrWhiteSpace(messages[0].GetString()));
    }

    async Task<JsonElement> BulkAsync(string action, object body)
    {
        var response = await Client.PostAsJsonAsync($"/jobs/bulk/{action}", body);
        Assert.True(response.StatusCode == HttpStatusCode.OK, $"{action}: {(int)response.StatusCode} {await response.Content.ReadAsStringAsync()}");
        return await response.ReadJsonAsync();
    }

    async Task<JobStatus> StatusAsync(Guid id) => await App.WithDbAsync(db => db.Jobs.Where(j => j.Id == id).Select(j => j.Status).SingleAsync());

    [Fact]
    public async Task BulkCancelByIdsCancelsWhatItMaySkipsTheRestAndSaysWhy()
    {
        var a = await SubmitAsync("echo", new { text = "a" });
        var b = await SubmitAsync("echo", new { text = "b" });
        var done = await SubmitAsync("echo", new { text = "c" });
        await BulkAsync("cancel", new { ids = new[] { done } });
        var missing = Guid.CreateVersion7();

        var answer = await BulkAsync("cancel", new { ids = new[] { a, b, done, missing } });

        Assert.Equal(3, answer.GetProperty("matched").GetInt32());
        Assert.Equal(2, answer.GetProperty("affected").GetInt32());
        var skipped = answer.GetProperty("skipped").EnumerateArray().ToDictionary(s => s.GetProperty("id").GetGuid());
        Assert.Equal(2, skipped.Count);
        Assert.Equal("cancelled", skipped[done].Str("status"));
        Assert.Contains("Cannot cancel a cancelled job", skipped[done].Str("reason"));
        Assert.Equal(JsonValueKind.Null, skipped[missing].GetProperty("status").ValueKind);
        Assert.Equal(JobStatus.Cancelled, await StatusAsync(a));
        Assert.Equal(JobStatus.Cancelled, await StatusAsync(b));
        // Through the transition seam: each job's own story says so, as for POST /jobs/{id}/cancel.
        var lines = await App.WithDbAsync(db => db.JobEvents.Where(e => e.JobId == a).Select(e => e.Message).ToListAsync());
        Assert.Contains("Cancelled before it started", lines);
    }

    [Fact]
    public async Task BulkRetryByFilterActsOnTheNewestMatchesUpToMaxAndTellsEachJobsStory()
    {
        var ids = new List<Guid>();
        for (var i = 0; i < 5; i++)
        {
            ids.Add(await SubmitAsync("echo", new { text = i % 2 == 0 ? "even" : "odd" }));
            App.Time.Advance(TimeSpan.FromSeconds(1)); // distinct created_at: "newest first" is well defined
        }
        await BulkAsync("cancel", new { ids });

        var answer = await BulkAsync("retry", new { filter = new { status = new[] { "cancelled" }, payload = new { text = "even" } }, max = 2 });

        Assert.Equal(3, answer.GetProperty("matched").GetInt32()); // ids 0, 2 and 4
        Assert.Equal(2, answer.GetProperty("affected").GetInt32());
        Assert.Empty(answer.GetProperty("skipped").EnumerateArray());
        Assert.Equal([JobStatus.Cancelled, JobStatus.Cancelled, JobStatus.Pending, JobStatus.Cancelled, JobStatus.Pending],
            await Task.WhenAll(ids.Select(StatusAsync)));
        var story = await App.WithDbAsync(db => db.JobEvents.Where(e => e.JobId == ids[4]).OrderBy(e => e.Seq).Select(e => e.Message).ToListAsync());
        Assert.Contains(story, line => line!.Contains("Queued again by POST /jobs/bulk/retry"));
    }

    /// <summary>
    /// Regression: the dashboard sent the count it showed as max, and jobs that came to match after
    /// the confirmation were retried (or deleted) in place of older ones the person had seen.
    /// </summary>
    [Fact]
    public async Task ABulkActionWhoseMatchesChangedSinceTheConfirmationDoesNothingAndSaysTheCountNow()
    {
        var shown = new[] { await SubmitAsync("echo", new { text = "a" }), await SubmitAsync("echo", new { text = "b" }) };
        await BulkAsync("cancel", new { ids = shown });
        var arrived = await SubmitAsync("echo", new { text = "c" });
        await BulkAsync("cancel", new { ids = new[] { arrived } }); // came to match after the count was shown

        var response = await Client.PostAsJsonAsync("/jobs/bulk/retry", new { filter = new { status = new[] { "cancelled" } }, max = 2, confirmed = 2 });

        var problem = await response.ShouldBeProblemAsync(HttpStatusCode.Conflict);
        Assert.Equal(3, problem.GetProperty("matched").GetInt32());
        Assert.Equal([JobStatus.Cancelled, JobStatus.Cancelled, JobStatus.Cancelled], await Task.WhenAll(shown.Append(arrived).Select(StatusAsync)));
        var again = await BulkAsync("retry", new { filter = new { status = new[] { "cancelled" } }, max = 3, confirmed = 3 });
        Assert.Equal(3, again.GetProperty("affected").GetInt32());
    }

    [Fact]
    public async Task BulkDeleteByFilterDeletesFinishedJobsAndLeavesTheRest()
    {
        var cancelled = await SubmitAsync("greet", new { name = "x" });
        var pending = await SubmitAsync("greet", new { name = "y" });
        var other = await SubmitAsync("echo", new { text = "z" });
        await BulkAsync("cancel", new { ids = new[] { cancelled, other } });

        var answer = await BulkAsync("delete", new { filter = new { type = new[] { "greet" } } });

        Assert.Equal(2, answer.GetProperty("matched").GetInt32());
        Assert.Equal(1, answer.GetProperty("affected").GetInt32());
        var skip = Assert.Single(answer.GetProperty("skipped").EnumerateArray());
        Assert.Equal(pending, skip.GetProperty("id").GetGuid());
        Assert.Equal("pending", skip.Str("status"));
        Assert.Equal(HttpStatusCode.NotFound, (await Client.GetAsync($"/jobs/{cancelled}")).StatusCode);
        Assert.Equal(JobStatus.Pending, await StatusAsync(pending));
        Assert.Equal(JobStatus.Cancelled, await StatusAsync(other));
    }

    [Theory]
    [InlineData("""{}""", "ids")]
    [InlineData("""{"ids": [], "filter": {}}""", "ids")]
    [InlineData("""{"ids": []}""", "ids")]
    [InlineData("""{"filter": {}, "max": 0}""", "max")]
    [InlineData("""{"filter": {}, "max": 10001}""", "max")]
    [InlineData("""{"filter": {}, "confirmed": -1}""", "confirmed")]
    [InlineData("""{"ids": ["00000000-0000-0000-0000-000000000001"], "confirmed": 1}""", "confirmed")]
    [InlineData("""{"filter": {"status": ["done"]}}""", "filter.status")]
    [InlineData("""{"filter": {"payload": {"tags": ["a"]}}}""", "filter.payload")]
    [InlineData("""{"filter": {"payload": {"a": null}}}""", "filter.payload")]
    [InlineData("""{"filter": {"payload": {}}}""", "filter.payload")]
    public async Task AMalformedBulkRequestIsA400NamingTheFieldAndChangesNothing(string body, string field)
    {
        var id = await SubmitAsync("echo", new { text = "kept" });

        var problem = await (await Client.PostAsync("/jobs/bulk/cancel", Http.Json(body))).ShouldBeProblemAsync(HttpStatusCode.BadRequest);

        Assert.True(problem.GetProperty("errors").TryGetProperty(field, out _), problem.ToString());
        Assert.Equal(JobStatus.Pending, await StatusAsync(id));
    }

    [Fact]
    public async Task MoreThanAThousandIdsIsA400()
    {
        var problem = await (await Client.PostAsJsonAsync("/jobs/bulk/delete", new { ids = Enumerable.Range(0, 1001).Select(_ => Guid.CreateVersion7()) }))
            .ShouldBeProblemAsync(HttpStatusCode.BadRequest);
        Assert.Contains("1,000", problem.GetProperty("errors").GetProperty("ids")[0].GetString());
    }
}

public sealed class SqliteDashboardApiTests(SqliteClockedApp app) : DashboardApiContract(app), IClassFixture<SqliteClockedApp>;

public sealed class PostgresDashboardApiTests(PostgresClockedApp app) : DashboardApiContract(app), IClassFixture<PostgresClockedApp>;
