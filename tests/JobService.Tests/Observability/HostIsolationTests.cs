using JobService.Data;
using JobService.Tests.Infrastructure;

namespace JobService.Tests.Observability;

/// <summary>
/// OpenTelemetry listens to meters by name across a process; each host's /metrics must still count
/// only its own jobs (the tests run many hosts in one process, each with a meter named JobService).
/// </summary>
public sealed class HostIsolationTests
{
    [Fact]
    public async Task TwoHostsInOneProcessNeverCountEachOthersJobs()
    {
        await using var busy = new WorkerApp(TestDatabase.Sqlite(), new() { ["Metrics:GaugeCacheSeconds"] = "0" });
        await using var idle = new WorkerApp(TestDatabase.Sqlite(), new() { ["Metrics:GaugeCacheSeconds"] = "0" });
        _ = idle.Client;

        await busy.WaitForStatusAsync(await busy.SubmitAsync(new { type = "echo", payload = new { text = "a" } }), JobStatus.Completed);
        var mine = await ScrapeAsync(busy, s => s.Sum("jobservice_jobs_finished_total", ("type", "echo")) == 1);
        var theirs = await ScrapeAsync(idle, _ => true);

        Assert.Equal(1, mine.Sum("jobservice_jobs_created_total", ("type", "echo")));
        Assert.Equal(1, mine.Sum("jobservice_jobs", ("type", "echo"), ("status", "completed")));
        Assert.Equal(0, theirs.Sum("jobservice_jobs_created_total"));
        Assert.Equal(0, theirs.Sum("jobservice_jobs_finished_total"));
        Assert.Equal(0, theirs.Sum("jobservice_jobs", ("type", "echo"), ("status", "completed")));
    }

    /// <summary>Scrapes after each committed change until <paramref name="ready"/> (the counters move just after the commit).</summary>
    static Task<PrometheusText> ScrapeAsync(WorkerApp app, Func<PrometheusText, bool> ready) =>
        app.Changes.UntilAsync(async () =>
        {
            var response = await app.Client.GetAsync("/metrics");
            response.EnsureSuccessStatusCode();
            return PrometheusText.Parse(await response.Content.ReadAsStringAsync());
        }, ready, TimeSpan.FromSeconds(15), _ => "the metrics never showed the job");
}
