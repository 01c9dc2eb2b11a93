using JobService.Data;
using JobService.Tests.Infrastructure;
using JobService.Transitions;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

namespace JobService.Tests.Events;

/// <summary>
/// A graceful stop with event streams open (a dashboard tab is one), over real HTTP: the web
/// server stops before the workers do and waits for open requests, so a stream held open held
/// the hand-back too.
/// </summary>
public sealed class StreamsAtShutdownTests
{
    /// <summary>
    /// Regression: with a stream open, SIGTERM waited the host's whole timeout for it while the
    /// worker went on claiming; the worker's own stop then came with no time left, nothing was
    /// handed back, and every running job spent an attempt on a lease rescue.
    /// </summary>
    [Fact]
    public async Task AStopWithStreamsOpenEndsThemAndHandsRunningJobsBack()
    {
        var app = new WorkerApp(TestDatabase.Sqlite(), realClock: true, kestrel: true);
        await using var _ = app;
        var id = await app.StartJobThatRunsUntilStoppedAsync();
        using var http = new HttpClient { BaseAddress = app.BaseAddress, Timeout = Timeout.InfiniteTimeSpan };
        var streams = new List<Stream>();
        foreach (var path in new[] { "/events", $"/jobs/{id}/events" })
        {
            var response = await http.GetAsync(path, HttpCompletionOption.ResponseHeadersRead);
            Assert.True(response.IsSuccessStatusCode, path);
            streams.Add(await response.Content.ReadAsStreamAsync());
        }
        var database = app.Database;

        await app.StopAsync(); // as SIGTERM does; grace 0 s in these tests

        foreach (var stream in streams) await new StreamReader(stream).ReadToEndAsync(); // each ended, not cut
        await using var db = database.CreateContext();
        var job = await db.Jobs.AsNoTracking().SingleAsync(j => j.Id == id);
        Assert.Equal((JobStatus.Pending, 0, JobTransitions.HandedBackAtShutdown), (job.Status, job.Attempt, job.Message));
    }

    /// <summary>
    /// Whatever stops before the worker and takes its time (here a service that waits for the hand-back;
    /// in production the web server waiting for its requests), the worker's drain begins with the host's stop.
    /// Before, it began at its own turn, with the host's time spent.
    /// </summary>
    [Fact]
    public async Task TheWorkerHandsBackWhileServicesStoppedBeforeItStillStop()
    {
        WaitsForTheHandBack? waits = null;
        var database = TestDatabase.Sqlite();
        var app = new WorkerApp(database, realClock: true,
            configure: services => services.AddHostedService(sp => waits = new WaitsForTheHandBack(database, sp.GetRequiredService<JobChanges>())));
        await using var _ = app;
        var id = await app.StartJobThatRunsUntilStoppedAsync();
        waits!.Job = id;

        await app.StopAsync();

        Assert.True(waits.SawIt, "the job was handed back while a service stopped before the worker waited for it");
        await using var db = database.CreateContext();
        var job = await db.Jobs.AsNoTracking().SingleAsync(j => j.Id == id);
        Assert.Equal((JobStatus.Pending, 0, JobTransitions.HandedBackAtShutdown), (job.Status, job.Attempt, job.Message));
    }

    /// <summary>Registered after the workers, so stopped before them: its stop waits (within the host's time) for the job to be handed back.</summary>
    sealed class WaitsForTheHandBack(TestDatabase database, JobChanges changes) : IHostedService
    {
        public Guid Job { get; set; }
        public bool SawIt { get; private set; }

        public Task StartAsync(CancellationToken ct) => Task.CompletedTask;

        public async Task StopAsync(CancellationToken ct)
        {
            try
            {
                while (true)
                {
                    var changed = changes.Next; // before the read: a change during it is not missed
                    await using (var db = database.CreateContext())
                        if (await db.Jobs.AnyAsync(j => j.Id == Job && j.Status == JobStatus.Pending, ct)) break;
                    await changed.WaitAsync(ct);
                }
                SawIt = true;
            }
            catch (OperationCanceledException) when (ct.IsCancellationRequested) { } // the host's time is up
        }
    }
}
