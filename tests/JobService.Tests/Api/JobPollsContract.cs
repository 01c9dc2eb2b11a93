using System.Net;
using System.Net.Http.Json;
using JobService.Api;
using JobService.Tests.Infrastructure;
using Microsoft.Extensions.DependencyInjection;

namespace JobService.Tests.Api;

/// <summary>
/// The poll's read (<see cref="JobPolls"/>): polls that come while one reads are read together,
/// in one statement for many ids, and each is answered its own job (or a 404), on both providers.
/// </summary>
public abstract class JobPollsContract(TestApp app)
{
    [Fact]
    public async Task AReadOfManyIdsAnswersEachInItsOrder()
    {
        var client = app.EnsureAvailable().CreateClient();
        var a = (await app.CreateJobAsync(new { type = "greet", payload = new { name = "Ada" } }, client)).Id();
        var b = (await app.CreateJobAsync(new { type = "greet", payload = new { name = "Bob" } }, client)).Id();

        var read = await app.Services.GetRequiredService<JobPolls>().ReadAsync([b, Guid.NewGuid(), a, b]);

        Assert.Equal([b, null, a, b], read.Select(j => j?.Id));
        Assert.Contains("Bob", read[0]!.Payload);
        Assert.Contains("Ada", read[2]!.Payload);
    }
}

public sealed class SqliteJobPollsTests(SqliteApp app) : JobPollsContract(app), IClassFixture<SqliteApp>;

public sealed class PostgresJobPollsTests(PostgresApp app, PostgresAuthApp withKeys)
    : JobPollsContract(app), IClassFixture<PostgresApp>, IClassFixture<PostgresAuthApp>
{
    /// <summary>
    /// Reads held on a table lock taken from outside the service: the first poll reads (and
    /// waits), the others queue behind it, then are read in one statement. Each tenant sees its
    /// own job; another tenant's, listed in the same statement, is a 404 as ever.
    /// </summary>
    [Fact]
    public async Task PollsThatComeWhileOneReadsAreReadTogetherAndEachSeesOnlyItsTenantsJob()
    {
        var auth = (AuthApp)withKeys.EnsureAvailable();
        var polls = auth.Services.GetRequiredService<JobPolls>();
        var ada = auth.ClientWith((await auth.NewKeyAsync($"t-{Guid.NewGuid():N}"[..20], JobService.Auth.Scope.JobsRead, JobService.Auth.Scope.JobsWrite)).Key);
        var bob = auth.ClientWith((await auth.NewKeyAsync($"t-{Guid.NewGuid():N}"[..20], JobService.Auth.Scope.JobsRead, JobService.Auth.Scope.JobsWrite)).Key);
        var adas = (await auth.CreateJobAsync(new { type = "greet", payload = new { name = "Ada" } }, ada)).Id();
        var bobs = (await auth.CreateJobAsync(new { type = "greet", payload = new { name = "Bob" } }, bob)).Id();

        (HttpClient Client, Guid Id)[] gets = [(ada, adas), (ada, bobs), (bob, bobs), (ada, Guid.NewGuid()), (bob, adas)];
        var answers = new List<Task<HttpResponseMessage>>();
        await using (var locker = new Npgsql.NpgsqlConnection(auth.Database.ConnectionString + ";Pooling=false"))
        {
            await locker.OpenAsync();
            await using var held = await locker.BeginTransactionAsync();
            await using (var command = new Npgsql.NpgsqlCommand("LOCK TABLE jobs IN ACCESS EXCLUSIVE MODE", locker, held)) await command.ExecuteNonQueryAsync();
            // The first alone until it reads (held): one that came beside it would be read with it.
            answers.Add(Task.Run(() => gets[0].Client.GetAsync($"/jobs/{gets[0].Id}")));
            await UntilAsync(() => polls.Running == 1, "the first poll reads");
            answers.AddRange(gets.Skip(1).Select(get => Task.Run(() => get.Client.GetAsync($"/jobs/{get.Id}"))));
            await UntilAsync(() => polls.Queued == gets.Length - 1, $"{gets.Length - 1} polls are queued");
        } // the lock goes
        var responses = await Task.WhenAll(answers);

        Assert.Equal([HttpStatusCode.OK, HttpStatusCode.NotFound, HttpStatusCode.OK, HttpStatusCode.NotFound, HttpStatusCode.NotFound],
            responses.Select(r => r.StatusCode));
        Assert.Equal(adas, (await responses[0].ReadJsonAsync()).Id());
        Assert.Equal(bobs, (await responses[2].ReadJsonAsync()).Id());

        Task UntilAsync(Func<bool> condition, string what) => Poll.UntilAsync(() => Task.FromResult(condition()), what, TimeSpan.FromSeconds(15),
            () => $"reading {polls.Running}, queued {polls.Queued}; the polls {string.Join(", ", answers.Select(a => a.IsCompleted ? (a.IsFaulted ? a.Exception!.InnerException!.Message : a.Result.StatusCode.ToString()) : "running"))}");
    }
}
