using System.Diagnostics;
using System.Text.Json;
using JobService.Data;
using JobService.Tests.Infrastructure;
using JobService.Worker;
using Microsoft.EntityFrameworkCore;

namespace JobService.Tests.Worker;

/// <summary>
/// The real service as three worker processes on one PostgreSQL database. One is SIGKILLed
/// mid-run: every job still completes, nothing stays running, and the only jobs that ran
/// twice are the ones the killed worker held when it died.
/// </summary>
[Collection(SerialCollection.Name)]
public sealed class MultiProcessWorkerTests
{
    const int Jobs = 1000;

    [Fact]
    public async Task KillingOneOfThreeWorkerProcessesLosesNoJobAndOnlyItsHeldJobsRunTwice()
    {
        var server = TestDatabase.PostgresServer(out var reason);
        if (server is null) Assert.Skip(reason);
        await using var database = await TestDatabase.PostgresAsync(server);
        await using (var db = database.CreateContext()) await db.Database.MigrateAsync();
        var folder = Directory.CreateTempSubdirectory("jobservice-multiprocess").FullName;
        var workers = new List<Process>();
        try
        {
            for (var i = 0; i < 3; i++) workers.Add(await StartWorkerAsync(database.ConnectionString, Path.Combine(folder, $"w{i}.log")));
            var gate = Path.Combine(folder, "gate");
            await SubmitAsync(database, gate);

            // The first quarter runs freely; the rest waits at the gate, so every worker ends up
            // holding started jobs however slowly this machine runs. Kill the first worker then.
            var victim = workers[0];
            await Poll.UntilAsync(async () =>
            {
                if (RunCount(folder) < Jobs / 4) return false;
                await using var db = database.CreateContext();
                var held = await db.Jobs.Where(j => j.Status == JobStatus.Running && j.LockedBy!.Contains($"/{victim.Id}/")).Select(j => j.Id).ToListAsync();
                var started = File.ReadAllLines(Path.Combine(folder, "w0.log")).Where(l => Guid.TryParse(l, out _)).Select(Guid.Parse).ToHashSet(); // a line may be half-written
                return held.Count(started.Contains) >= 4;
            }, "a quarter of the jobs ran and the first worker holds started jobs", TimeSpan.FromSeconds(90));
            victim.Kill();
            await victim.WaitForExitAsync();
            File.WriteAllText(gate, "open");
            List<Guid> heldByVictim;
            await using (var db = database.CreateContext())
                heldByVictim = await db.Jobs.Where(j => j.Status == JobStatus.Running && j.LockedBy!.Contains($"/{victim.Id}/"))
                    .Select(j => j.Id).ToListAsync();

            await Poll.UntilAsync(async () =>
            {
                await using var db = database.CreateContext();
                return await db.Jobs.CountAsync(j => j.Status == JobStatus.Completed) == Jobs;
            }, "every job completed", TimeSpan.FromSeconds(90));

            await using (var db = database.CreateContext())
            {
                Assert.Equal(0, await db.Jobs.CountAsync(j => j.Status != JobStatus.Completed));
                Assert.All(await db.Jobs.Where(j => heldByVictim.Contains(j.Id)).ToListAsync(), j => Assert.Equal(2, j.Attempt));
            }
            var runs = Runs(folder);
            Assert.Equal(Jobs, runs.Count);
            var victimRuns = File.ReadAllLines(Path.Combine(folder, "w0.log")).Select(Guid.Parse).ToHashSet();
            var twice = runs.Where(r => r.Value > 1).Select(r => r.Key).ToList();
            // Ran twice: exactly the jobs the victim held and had started (a held job it had
            // claimed but not yet started ran once, elsewhere).
            Assert.Equal(heldByVictim.Where(victimRuns.Contains).Order(), twice.Order());
            Assert.All(runs.Values, count => Assert.InRange(count, 1, 2));
            Assert.NotEmpty(victimRuns);
            Assert.NotEmpty(heldByVictim); // it died holding jobs, so the rescue was exercised
        }
        finally
        {
            foreach (var worker in workers.Where(w => !w.HasExited)) { worker.Kill(); await worker.WaitForExitAsync(); }
            Directory.Delete(folder, recursive: true);
        }
    }

    static async Task<Process> StartWorkerAsync(string connection, string record)
    {
        var start = new ProcessStartInfo("dotnet",
        [
            BenchTool.Dll(), "run-worker", "--provider", "postgres", "--connection", connection, "--record", record,
            // A lease of 8 heartbeats: a healthy worker starved of CPU for a few seconds must not
            // lose its jobs, or they would run twice for a reason other than the kill.
            "--concurrency", "8", "--lease-seconds", "8", "--heartbeat-seconds", "1",
        ])
        { RedirectStandardOutput = true, RedirectStandardError = true };
        ServiceProcess.WithoutDiagnosticsFiles(start); // killed below
        var process = Process.Start(start)!;
        var ready = new TaskCompletionSource();
        process.OutputDataReceived += (_, e) => { if (e.Data == "ready") ready.TrySetResult(); };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        await ready.Task.WaitAsync(TimeSpan.FromSeconds(60));
        return process;
    }

    /// <summary>
    /// 1,000 jobs that each hold their worker 30 ms, in one transaction with the NOTIFY, as the
    /// API would. The first quarter has a higher priority, so it runs first; the rest also waits
    /// until the gate file exists.
    /// </summary>
    static async Task SubmitAsync(TestDatabase database, string gate)
    {
        await using var db = database.CreateContext();
        await using var tx = await db.Database.BeginTransactionAsync();
        var now = DateTime.UtcNow;
        db.Jobs.AddRange(Enumerable.Range(0, Jobs).Select(i => new Job
        {
            Id = Guid.CreateVersion7(), Type = "bench_noop", MaxAttempts = 5, RunAt = now, CreatedAt = now, UpdatedAt = now,
            Priority = i < Jobs / 4 ? 1 : 0,
            Payload = JsonSerializer.Serialize(new { hold_ms = 30, gate = i < Jobs / 4 ? null : gate }),
        }));
        await db.SaveChangesAsync();
        await db.Database.ExecuteSqlAsync($"SELECT pg_notify({JobService.Transitions.PostgresNotifier.JobsChannel}, '')");
        await tx.CommitAsync();
    }

    static Dictionary<Guid, int> Runs(string folder) => Directory.GetFiles(folder, "*.log")
        .SelectMany(File.ReadAllLines).Where(l => l.Length > 0).Select(Guid.Parse)
        .GroupBy(id => id).ToDictionary(g => g.Key, g => g.Count());

    static int RunCount(string folder) => Directory.GetFiles(folder, "*.log").Sum(f => File.ReadAllLines(f).Length);
}
