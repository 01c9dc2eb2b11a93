using System.Text.Json;
using JobService.Tests.Infrastructure;

namespace JobService.Tests.Bench;

/// <summary>
/// The benchmark tool's <c>work</c> as docs/benchmarks.md reads it: what the JIT compiled during the
/// drain, and with <c>--allocations K</c> the K types that allocated most (the runtime's own sample,
/// off unless asked for). Real processes on a SQLite file.
/// </summary>
public sealed class BenchWorkTests : IDisposable
{
    readonly TempFolder _folder = new();

    public void Dispose() => _folder.Dispose();

    [Fact]
    public async Task WorkSaysWhatTheJitCompiledDuringTheDrainAndWithAllocationsWhichTypesAllocatedMost()
    {
        string[] database = ["--provider", "sqlite", "--connection", $"Data Source={_folder.NewDatabase("bench")}"];
        await BenchTool.RunAsync(["enqueue", .. database, "--n", "300"]);
        var sampled = await BenchTool.RunAsync(["work", .. database, "--n", "300", "--concurrency", "50", "--allocations", "5"]);

        Assert.Equal(300, sampled.GetProperty("completed_in_database").GetInt32());
        // A fresh process compiles during its first jobs: the framework's generic code over the service's types at least.
        Assert.True(sampled.GetProperty("drain_jit_methods").GetInt32() > 0);
        Assert.True(sampled.GetProperty("drain_jit_ms").GetDouble() > 0);
        var top = sampled.GetProperty("drain_allocations").EnumerateArray().ToList();
        Assert.InRange(top.Count, 1, 5);
        Assert.All(top, t => Assert.False(string.IsNullOrEmpty(t.GetProperty("type").GetString())));
        var shares = top.Select(t => t.GetProperty("share").GetDouble()).ToList();
        Assert.All(shares, share => Assert.InRange(share, double.Epsilon, 1.0));
        Assert.Equal(shares.OrderByDescending(share => share), shares);
        Assert.InRange(shares.Sum(), 0, 1.0001);

        await BenchTool.RunAsync(["enqueue", .. database, "--n", "300"]);
        var unsampled = await BenchTool.RunAsync(["work", .. database, "--n", "300", "--concurrency", "50"]);
        Assert.Equal(JsonValueKind.Null, unsampled.GetProperty("drain_allocations").ValueKind);
    }

    [Fact]
    public async Task LatencySaysWhatEachMeasuredJobAllocated()
    {
        string[] database = ["--provider", "sqlite", "--connection", $"Data Source={_folder.NewDatabase("bench")}"];
        var result = await BenchTool.RunAsync(["latency", .. database, "--n", "20", "--interval-ms", "1", "--warmup", "2"]);

        Assert.Equal(20, result.GetProperty("n").GetInt32());
        Assert.True(result.GetProperty("max_ms").GetDouble() > 0); // the pickups were timed
        // A job's insert, claims, run and completion: tens of kilobytes (about 70 here), not the start-up's
        // allocations shared out (about 1.5 MB a job when counted from the process's start).
        Assert.InRange(result.GetProperty("allocated_bytes_per_job").GetInt64(), 1_000, 500_000);
        Assert.Equal(JsonValueKind.Number, result.GetProperty("gen0_collections").ValueKind); // how many depends on the GC's budgets: its presence only
    }
}
