using System.Net;
using System.Net.Http.Json;
using JobService.Data;
using JobService.Tests.Infrastructure;
using JobService.Transitions;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;

namespace JobService.Tests.Api;

/// <summary>
/// POST /jobs's group commit (<see cref="JobTransitions.SubmitAsync"/>), on both providers: submits
/// that come while one commits are stored together, in one transaction, and each is still answered
/// as if it had come alone. The database's writes are held from outside the service, so that the
/// first submit is storing while the others queue behind it.
/// </summary>
public abstract class SubmitGroupContract(TestApp plain, AuthApp withKeys)
{
    static readonly object Greet = new { type = "greet", payload = new { name = "Ada" } };

    /// <summary>Holds every write to the jobs table until disposed.</summary>
    protected abstract Task<IAsyncDisposable> HoldWritesAsync(TestApp app);

    /// <summary>
    /// Runs the submits with the writes held: the first alone, until it stores (held); then the
    /// rest, until they are all queued behind it. Then the writes go. (The first is waited for by
    /// itself: one that came beside it before it took its group would be stored with it.)
    /// </summary>
    protected async Task<T[]> SubmitTogetherAsync<T>(TestApp app, IReadOnlyList<Func<Task<T>>> submits)
    {
        var transitions = app.Services.GetRequiredService<JobTransitions>();
        var running = new List<Task<T>>();
        // Started and ready first: a service still preparing its database answers 503 at once, and nothing would queue.
        var probe = app.CreateClient();
        await Poll.UntilAsync(async () => (await probe.GetAsync("/health/ready")).IsSuccessStatusCode, "the service is ready", TimeSpan.FromSeconds(30));
        await using (await HoldWritesAsync(app))
        {
            running.Add(Task.Run(submits[0]));
            await UntilAsync(() => transitions.SubmitsRunning == 1, "the first submit stores");
            running.AddRange(submits.Skip(1).Select(Task.Run));
            await UntilAsync(() => transitions.SubmitsQueued == submits.Count - 1, $"{submits.Count - 1} submits are queued");
        }
        return await Task.WhenAll(running);

        Task UntilAsync(Func<bool> condition, string what) => Poll.UntilAsync(() => Task.FromResult(condition()), what, TimeSpan.FromSeconds(15),
            () => $"storing {transitions.SubmitsRunning}, queued {transitions.SubmitsQueued}; the submits {string.Join(", ", running.Select(r => r.IsCompleted ? (r.IsFaulted ? r.Exception!.InnerException!.Message : r.Result!.ToString()) : "running"))}");
    }

    /// <summary>POST /jobs, each request with a trace of its own (its traceparent: what the job's worker span links to).</summary>
    static Func<Task<HttpResponseMessage>>[] Posts(HttpClient client, int n) =>
        [.. Enumerable.Range(0, n).Select(_ => (Func<Task<HttpResponseMessage>>)(() =>
        {
            var request = new HttpRequestMessage(HttpMethod.Post, "/jobs") { Content = JsonContent.Create(Greet) };
            request.Headers.Add("traceparent", $"00-{Guid.NewGuid():N}-{Guid.NewGuid():N}"[..52] + "-01");
            return client.SendAsync(request);
        }))];

    [Fact]
    public async Task SubmitsThatComeWhileOneCommitsAreStoredTogether()
    {
        var app = plain.EnsureAvailable();
        var client = app.CreateClient();
        var answers = await SubmitTogetherAsync(app, Posts(client, 5));

        Assert.All(answers, a => Assert.Equal(HttpStatusCode.Created, a.StatusCode));
        var bodies = new List<System.Text.Json.JsonElement>();
        foreach (var answer in answers) bodies.Add(await answer.ReadJsonAsync());
        var ids = bodies.Select(b => b.Id()).ToList();
        var created = await app.WithDbAsync(db => db.JobEvents.Where(e => ids.Contains(e.JobId) && e.Kind == JobEventKinds.Created).ToListAsync());
        Assert.Equal(5, created.Count);
        // A transition's events carry its transaction's clock reading: the first alone, the other four in one.
        Assert.Equal([1, 4], created.GroupBy(e => e.CreatedAt).Select(g => g.Count()).Order());
        var traces = await app.WithDbAsync(db => db.Jobs.Where(j => ids.Contains(j.Id)).ToDictionaryAsync(j => j.Id, j => j.TraceParent));
        foreach (var (answer, id) in answers.Zip(ids)) // each with its own request's trace
            Assert.Equal(answer.RequestMessage!.Headers.GetValues("traceparent").Single()[3..35], traces[id]?[3..35]);
        foreach (var body in bodies) // each stored as its own 201 said (times and all)
            JsonAssert.Equal(body.GetRawText(), (await (await client.GetAsync($"/jobs/{body.Id()}")).ReadJsonAsync()).GetRawText());
    }

    /// <summary>
    /// Requests racing with one Idempotency-Key meet in one group (none finds the key stored before
    /// it queues): the group is refused whole, each then tries alone, and one job is stored. The
    /// others are answered it (200) when their body is the same, a 422 when it differs.
    /// </summary>
    [Fact]
    public async Task RequestsRacingWithOneIdempotencyKeyInAGroupStoreOneJob()
    {
        var app = plain.EnsureAvailable();
        var client = app.CreateClient();
        var key = $"race-{Guid.NewGuid():N}";
        object[] bodies = [Greet, Greet, new { type = "greet", payload = new { name = "Bob" } }];
        Func<Task<HttpResponseMessage>> Keyed(object body) => () =>
        {
            var request = new HttpRequestMessage(HttpMethod.Post, "/jobs") { Content = JsonContent.Create(body) };
            request.Headers.Add("Idempotency-Key", key);
            return client.SendAsync(request);
        };

        var answers = await SubmitTogetherAsync(app, [Posts(client, 1)[0], .. bodies.Select(Keyed)]); // the first, without a key, stores alone

        Assert.Equal(HttpStatusCode.Created, answers[0].StatusCode);
        var keyed = answers[1..];
        var winner = Assert.Single(keyed, a => a.StatusCode == HttpStatusCode.Created);
        var stored = (await winner.ReadJsonAsync()).Id();
        var winnersBody = bodies[Array.IndexOf(keyed, winner)];
        foreach (var (answer, body) in keyed.Zip(bodies).Where(p => p.First != winner))
            if (body == winnersBody)
            {
                Assert.Equal(HttpStatusCode.OK, answer.StatusCode);
                Assert.Equal(stored, (await answer.ReadJsonAsync()).Id());
            }
            else Assert.Equal(HttpStatusCode.UnprocessableEntity, answer.StatusCode);
        Assert.Equal(1, await app.WithDbAsync(db => db.Jobs.CountAsync(j => j.IdempotencyKey == key)));
    }

    [Fact]
    public async Task AGroupPastItsTenantsQuotaIsAnsweredJobByJob()
    {
        var app = (AuthApp)withKeys.EnsureAvailable();
        var (key, _) = await app.NewKeyAsync($"t-{Guid.NewGuid():N}"[..20], JobService.Auth.Scope.JobsRead, JobService.Auth.Scope.JobsWrite);
        var client = app.ClientWith(key);
        var fill = new { jobs = Enumerable.Repeat(Greet, AuthApp.MaxActiveJobs - 2).ToArray() };
        Assert.Equal(HttpStatusCode.Created, (await client.PostAsJsonAsync("/jobs/batch", fill)).StatusCode);

        // Room for two more: the first submit takes one alone; the three queued behind it are past
        // the quota together, and one of them still fits.
        var answers = await SubmitTogetherAsync(app, Posts(client, 4));

        Assert.Equal(2, answers.Count(a => a.StatusCode == HttpStatusCode.Created));
        Assert.Equal(2, answers.Count(a => a.StatusCode == HttpStatusCode.TooManyRequests));
        // Each refusal is the one its submit met alone (the tenant full, one job more), not the group's (three more, one short).
        foreach (var refused in answers.Where(a => a.StatusCode == HttpStatusCode.TooManyRequests))
        {
            var problem = await refused.ReadJsonAsync();
            Assert.Equal(AuthApp.MaxActiveJobs, problem.GetProperty("active_jobs").GetInt32());
            Assert.Equal(AuthApp.MaxActiveJobs, problem.GetProperty("max_active_jobs").GetInt32());
        }
        Assert.Equal(AuthApp.MaxActiveJobs, (await (await client.GetAsync("/jobs/stats")).ReadJsonAsync()).GetProperty("total").GetInt32());
    }
}

public sealed class SqliteSubmitGroupTests(SqliteApp plain, SqliteAuthApp withKeys)
    : SubmitGroupContract(plain, withKeys), IClassFixture<SqliteApp>, IClassFixture<SqliteAuthApp>
{
    protected override async Task<IAsyncDisposable> HoldWritesAsync(TestApp app)
    {
        var turn = await app.Services.GetRequiredService<IJobDriver>().BeginWriteAsync(CancellationToken.None); // SQLite's one writer
        return new Released(() => turn?.Dispose());
    }

    sealed class Released(Action release) : IAsyncDisposable
    {
        public ValueTask DisposeAsync()
        {
            release();
            return ValueTask.CompletedTask;
        }
    }
}

public sealed class PostgresSubmitGroupTests(PostgresApp plain, PostgresAuthApp withKeys)
    : SubmitGroupContract(plain, withKeys), IClassFixture<PostgresApp>, IClassFixture<PostgresAuthApp>
{
    protected override async Task<IAsyncDisposable> HoldWritesAsync(TestApp app)
    {
        var locker = new Npgsql.NpgsqlConnection(app.Database.ConnectionString + ";Pooling=false");
        await locker.OpenAsync();
        var held = await locker.BeginTransactionAsync();
        await using (var command = new Npgsql.NpgsqlCommand("LOCK TABLE jobs IN SHARE MODE", locker, held)) await command.ExecuteNonQueryAsync(); // inserts wait
        return locker; // closed: the transaction ends and the lock goes
    }

    /// <summary>
    /// A job the database refuses (here a payload that is not JSON, which the API's validation
    /// would have stopped; it is the fourth, so never the first, which stores alone) fails alone:
    /// the group's statement is refused whole, and each of its jobs is then stored by itself.
    /// </summary>
    [Fact]
    public async Task AJobTheDatabaseRefusesFailsAloneAndTheOthersAreStored()
    {
        var app = plain.EnsureAvailable();
        var transitions = app.Services.GetRequiredService<JobTransitions>();
        var jobs = Enumerable.Range(0, 5).Select(i => new Job
        {
            Id = Guid.NewGuid(), Type = "greet", TenantId = "default", Status = JobStatus.Pending, Message = "Waiting for a worker",
            Payload = i == 3 ? "{not json" : """{"name": "Ada"}""", MaxAttempts = 3, RunAt = DateTime.UtcNow, CreatedAt = DateTime.UtcNow, UpdatedAt = DateTime.UtcNow,
        }).ToList();

        var outcomes = await SubmitTogetherAsync(app, [.. jobs.Select(job => (Func<Task<Exception?>>)(async () =>
        {
            await using var scope = app.Services.CreateAsyncScope();
            try { await transitions.SubmitAsync(scope.ServiceProvider.GetRequiredService<JobsDbContext>(), job, maxActive: 0); return null; }
            catch (Exception e) { return e; }
        }))]);

        var refused = Assert.IsType<Npgsql.PostgresException>(outcomes[3]);
        Assert.Equal("22P02", refused.SqlState); // invalid text representation
        Assert.All(outcomes.Where((_, i) => i != 3), Assert.Null);
        var ids = jobs.Select(j => j.Id).ToList();
        var stored = await app.WithDbAsync(db => db.Jobs.Where(j => ids.Contains(j.Id)).Select(j => j.Id).ToListAsync());
        Assert.Equal(ids.Where((_, i) => i != 3).Order(), stored.Order());
    }
}
