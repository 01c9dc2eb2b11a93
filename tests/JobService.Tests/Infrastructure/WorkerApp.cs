using System.Net.Http.Json;
using System.Text.Json;
using JobService.Data;
using JobService.Transitions;
using JobService.Worker;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.TestHost;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Time.Testing;

namespace JobService.Tests.Infrastructure;

/// <summary>
/// The whole service (API and workers) on a fake clock: leases, heartbeats, backoff and
/// timeouts move only when a test advances <see cref="Time"/>, so nothing sleeps to wait for time.
/// </summary>
public sealed class WorkerApp(TestDatabase database, Dictionary<string, string?>? settings = null, bool realClock = false,
    Action<IServiceCollection>? configure = null, bool kestrel = false, bool ownsDatabase = true) : IAsyncDisposable
{
    internal Action<IServiceCollection>? Configure => configure;
    /// <summary>The real clock, for tests whose time is spent on real I/O (an HTTP server streaming).</summary>
    public bool RealClock => realClock;
    public ObservedClock Time { get; } = new(DateTimeOffset.UtcNow);
    public TestDatabase Database => database;
    public static readonly Dictionary<string, string?> Defaults = new()
    {
        ["Worker:Concurrency"] = "4",
        ["Worker:LeaseSeconds"] = "10",
        ["Worker:HeartbeatSeconds"] = "2",
        ["Worker:RescueIntervalSeconds"] = "1",
        ["Worker:ProgressIntervalMs"] = "500",
        ["Worker:PollIntervalMs"] = "1000",
        ["Worker:ShutdownGraceSeconds"] = "0",
        ["Worker:RetryBaseSeconds"] = "2",
        ["Worker:RetryMaxSeconds"] = "60",
    };

    Factory? _factory;
    HttpClient? _client;

    Factory App => _factory ??= NewFactory();
    public HttpClient Client => _client ??= App.CreateClient();

    /// <summary>With <c>kestrel</c>, the address a browser or a second process reaches the service at.</summary>
    public Uri BaseAddress => Client.BaseAddress!;

    Factory NewFactory()
    {
        var factory = new Factory(this, settings);
        // Real HTTP on loopback (streaming, a browser). The port is Kestrel's own listen option, not
        // UseKestrel(0): that overload rewrites the server's addresses after the app has started
        // binding, and now and then loses the race ("Addresses cannot be modified after the server
        // has started"; dotnet/aspnetcore#67714).
        if (kestrel) factory.UseKestrel(options => options.Listen(System.Net.IPAddress.Loopback, 0));
        return factory;
    }
    public IServiceProvider Services => App.Services;
    public T Get<T>() where T : notnull => Services.GetRequiredService<T>();

    public async Task<Guid> SubmitAsync(object body)
    {
        var response = await Client.PostAsJsonAsync("/jobs", body);
        response.EnsureSuccessStatusCode();
        return (await response.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("id").GetGuid();
    }

    /// <summary>Submits a job whose handler runs until it is stopped, and returns once it has started.</summary>
    public async Task<Guid> StartJobThatRunsUntilStoppedAsync()
    {
        var started = new TaskCompletionSource();
        var key = Scripts.Add(async ctx =>
        {
            started.TrySetResult();
            await new TaskCompletionSource().Task.WaitAsync(ctx.CancellationToken); // never set: only the stop ends it
            return null;
        });
        var id = await SubmitAsync(Scripts.Job(key));
        await started.Task.WaitAsync(TimeSpan.FromSeconds(15));
        return id;
    }

    public async Task<Job> JobAsync(Guid id)
    {
        await using var db = await Get<IDbContextFactory<JobsDbContext>>().CreateDbContextAsync();
        return await db.Jobs.AsNoTracking().SingleAsync(j => j.Id == id);
    }

    /// <summary>Runs a query or change on the service's own database.</summary>
    public async Task<T> WithDbAsync<T>(Func<JobsDbContext, Task<T>> work)
    {
        await using var db = await Get<IDbContextFactory<JobsDbContext>>().CreateDbContextAsync();
        return await work(db);
    }

    /// <summary>The job's log lines: its events that tell one, in order.</summary>
    public async Task<List<JobEvent>> LogsAsync(Guid id) => (await EventsAsync(id)).Where(e => e.Message is not null).ToList();

    public async Task<List<JobEvent>> EventsAsync(Guid id)
    {
        await using var db = await Get<IDbContextFactory<JobsDbContext>>().CreateDbContextAsync();
        return await db.JobEvents.AsNoTracking().Where(e => e.JobId == id).OrderBy(e => e.Seq).ToListAsync();
    }

    /// <summary>Signalled after every committed change to a job in this service.</summary>
    public JobChanges Changes => Get<JobChanges>();

    /// <summary>Waits, change by change (<see cref="JobChanges"/>), until the job matches; fails after 15 s unless told.</summary>
    public Task<Job> WaitForAsync(Guid id, Func<Job, bool> condition, string what, TimeSpan? within = null) =>
        Changes.UntilAsync(() => JobAsync(id), condition, within ?? TimeSpan.FromSeconds(15),
            job => $"Job {id} never became {what}: status {job.Status.ToName()}, attempt {job.Attempt}, error {job.Error}");

    /// <summary>
    /// Pauses the type, and waits until this process's worker knows: it reads the pause a moment after
    /// the answer (its notice), and until then may still claim (a test failed once so).
    /// </summary>
    public async Task PauseAsync(string type)
    {
        (await Client.PostAsync($"/job-types/{type}/pause", null)).EnsureSuccessStatusCode();
        await KnowsPausedAsync(type);
    }

    /// <summary>Waits until this process's worker has read the type's pause (made through any instance).</summary>
    public async Task KnowsPausedAsync(string type)
    {
        var paused = Get<JobService.Worker.PausedTypes>();
        while (true)
        {
            var read = paused.NextRead; // taken before the check: a read that ends meanwhile still wakes us
            if (paused.IsPaused(type, Time.GetUtcNow().UtcDateTime)) return;
            await read.WaitAsync(TimeSpan.FromSeconds(15));
        }
    }

    /// <summary>Waits until this process's worker has registered the job among those it runs (so a heartbeat sees it).</summary>
    public Task WaitForRunningHereAsync(Guid id) =>
        Poll.UntilAsync(() => Get<RunningJobs>().Find(id) is not null, $"job {id} runs in this process", TimeSpan.FromSeconds(15));

    /// <summary>Waits until this process's worker is done with the job, its last write made or refused.</summary>
    public Task WaitForGoneHereAsync(Guid id) =>
        Poll.UntilAsync(() => Get<RunningJobs>().Find(id) is null, $"this process let job {id} go", TimeSpan.FromSeconds(15));


    public Task<Job> WaitForStatusAsync(Guid id, JobStatus status) => WaitForAsync(id, j => j.Status == status, status.ToName());

    /// <summary>
    /// Advances the fake clock by <paramref name="total"/>, half a second at a time, while job
    /// <paramref name="id"/> runs here, never past a heartbeat that has not finished: when the
    /// heartbeat's timer is due, the clock waits (for the heartbeat loop to arm its next timer,
    /// which it does once its lease renewal has committed) before it moves on. So a lease is always
    /// renewed a heartbeat before it could run out, however slow the machine. Fails if the
    /// heartbeat stops renewing.
    /// </summary>
    public async Task AdvanceRunningAsync(Guid id, TimeSpan total)
    {
        var beat = TimeSpan.FromSeconds(Get<Microsoft.Extensions.Options.IOptions<WorkerOptions>>().Value.HeartbeatSeconds);
        var step = TimeSpan.FromMilliseconds(500);
        for (var elapsed = TimeSpan.Zero; elapsed < total;)
        {
            var (armed, at) = Time.LastArmed(beat);
            var due = at + beat; // before the heartbeat's first timer: long past, so it waits for that one
            if (Time.GetUtcNow() >= due)
            {
                await Time.UntilArmedAsync(beat, armed + 1);
                continue;
            }
            var move = new[] { step, due - Time.GetUtcNow(), total - elapsed }.Min();
            Time.Advance(move);
            elapsed += move;
            Assert.True((await JobAsync(id)).LockedUntil > Time.GetUtcNow().UtcDateTime, "the heartbeat stopped renewing the lease");
        }
    }

    /// <summary>Moves the fake clock at once and wakes the worker, which then claims whatever became due.</summary>
    public void AdvanceAndWake(TimeSpan by)
    {
        Time.Advance(by);
        Get<JobWakeup>().Signal();
    }

    /// <summary>Stops the host as a deploy would (SIGTERM): the worker drains and hands back.</summary>
    public async Task StopAsync()
    {
        if (_factory is not null) await _factory.DisposeAsync();
        _factory = null;
    }

    public async ValueTask DisposeAsync()
    {
        await StopAsync();
        if (ownsDatabase) await database.DisposeAsync();
    }

    sealed class Factory(WorkerApp owner, Dictionary<string, string?>? settings) : Microsoft.AspNetCore.Mvc.Testing.WebApplicationFactory<Program>
    {
        protected override void ConfigureWebHost(IWebHostBuilder builder)
        {
            builder.UseSetting("Database:Provider", owner.Database.Provider);
            builder.UseSetting("ConnectionStrings:Jobs", owner.Database.ConnectionString);
            builder.UseSetting("Serilog:MinimumLevel", "Warning");
            builder.UseSetting("Service:Role", "all");
            foreach (var (key, value) in Defaults) builder.UseSetting(key, value);
            foreach (var (key, value) in settings ?? []) builder.UseSetting(key, value);
            builder.ConfigureTestServices(services =>
            {
                TestHandlers.Register(services);
                services.AddSingleton<JobChanges>();
                services.AddSingleton<IJobTransitionHook>(sp => sp.GetRequiredService<JobChanges>()); // last: after the service's own hooks
                if (!owner.RealClock) services.AddSingleton<TimeProvider>(owner.Time);
                owner.Configure?.Invoke(services);
            });
        }
    }
}
