using System.Collections.Concurrent;
using System.Diagnostics;
using JobService.Handlers;

namespace JobService.Bench;

public sealed record NoopPayload(int HoldMs = 0, string? Gate = null);

/// <summary>
/// The benchmark's job: records that it ran (how often, and when it started) and returns.
/// <c>hold_ms</c> keeps the job for that long and <c>gate</c> keeps it until that file exists,
/// so that a test can kill a worker while it certainly holds started jobs; the benchmarks use
/// neither (no work at all: queue overhead only).
/// </summary>
[JobType("bench_noop", Description = "Benchmark no-op: records each run.", MaxAttempts = 5, TimeoutSeconds = 60)]
public sealed class NoopHandler : JobHandler<NoopPayload>
{
    public static readonly ConcurrentDictionary<Guid, int> Runs = new();
    public static readonly ConcurrentDictionary<Guid, long> StartedAt = new();
    public static int Distinct;
    public static Action<Guid>? OnRun;

    public override async Task<object?> ExecuteAsync(NoopPayload payload, IJobContext context)
    {
        StartedAt.TryAdd(context.JobId, Stopwatch.GetTimestamp());
        if (Runs.AddOrUpdate(context.JobId, 1, (_, n) => n + 1) == 1) Interlocked.Increment(ref Distinct);
        OnRun?.Invoke(context.JobId);
        if (payload.HoldMs > 0) await Task.Delay(payload.HoldMs, context.CancellationToken);
        while (payload.Gate is not null && !File.Exists(payload.Gate)) await Task.Delay(20, context.CancellationToken);
        return null;
    }
}

public sealed record TokensPayload(int Tokens = 5_000, double TokenMs = 1);

/// <summary>
/// Reports progress on every token of a simulated stream (the benchmark's stand-in for an LLM
/// answer arriving token by token), to measure how many rows the coalescer writes.
/// </summary>
[JobType("bench_tokens", Description = "Benchmark: progress on every token.", MaxAttempts = 1, TimeoutSeconds = 600)]
public sealed class TokensHandler : JobHandler<TokensPayload>
{
    public override async Task<object?> ExecuteAsync(TokensPayload payload, IJobContext context)
    {
        var started = Stopwatch.GetTimestamp();
        for (var token = 1; token <= payload.Tokens; token++)
        {
            // Tokens arrive at a steady pace, as from a model; waiting here is the stream, not work.
            var due = started + (long)(token * payload.TokenMs * Stopwatch.Frequency / 1000);
            var wait = due - Stopwatch.GetTimestamp();
            if (wait > 0) await Task.Delay(TimeSpan.FromTicks(wait * TimeSpan.TicksPerSecond / Stopwatch.Frequency), context.CancellationToken);
            await context.ReportProgressAsync(token * 100.0 / payload.Tokens, $"Generating… {token} tokens");
        }
        return new { tokens = payload.Tokens };
    }
}
