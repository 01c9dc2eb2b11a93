using System.Diagnostics;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using JobService.Bench;
using JobService.Data;
using JobService.Transitions;
using Microsoft.EntityFrameworkCore;

// The benchmark tool. Each subcommand prints one JSON object as its last line.
//   enqueue  --n N            N no-op jobs through POST /jobs/batch (1,000 a request), timed as the peer harness times it
//   work     --n N            this process is one worker: run until N distinct jobs ran, stop gracefully
//            [--allocations K]  also the K types that allocated most during the drain (sampled)
//   latency  --n 200 --interval-ms 20   one job at a time into an idle worker: commit → handler start
//   progress --tokens 5000 --token-ms 1 a handler reporting on every token: reports vs rows written
//   run-worker --record FILE  a worker until killed, appending each run's job id to FILE (tests)
//   drop-create               PostgreSQL: a fresh jobservice_bench database (bench/run-all.sh)
// Common: --provider sqlite|postgres --connection "<connection string>" --concurrency 200 --metrics on|off
var a = new BenchArgs(args);
var result = a.Command switch
{
    "enqueue" => await Enqueue(a),
    "work" => await Work(a),
    "latency" => await Latency(a),
    "progress" => await Progress(a),
    "run-worker" => await RunWorker(a),
    "drop-create" => await DropCreate(a),
    _ => throw new ArgumentException("Commands: enqueue, work, latency, progress, run-worker. See bench/README.md."),
};
Console.WriteLine(JsonSerializer.Serialize(result));
return 0;

static async Task<object> Enqueue(BenchArgs a)
{
    await using var app = await BenchHost.StartAsync(a, "api");
    using var http = BenchHost.Client(app);
    var hold = int.Parse(a.Get("hold-ms", "0"));
    // As the peer harness's adapter does: the bodies are made before the clock starts, and one
    // untimed batch of one job (due tomorrow, cancelled at once) goes first through the same endpoint.
    var bodies = new List<string>();
    for (var done = 0; done < a.N; done += 1000)
        bodies.Add(JsonSerializer.Serialize(new { jobs = Enumerable.Range(0, Math.Min(1000, a.N - done)).Select(_ => new { type = "bench_noop", payload = new { hold_ms = hold } }) }));
    await WarmUpBatch(http);
    var requestsMs = new List<double>();
    var cpuStarted = Process.GetCurrentProcess().TotalProcessorTime;
    var started = Stopwatch.GetTimestamp();
    foreach (var body in bodies)
    {
        var sent = Stopwatch.GetTimestamp();
        using var response = await http.PostAsync("/jobs/batch", new StringContent(body, Encoding.UTF8, "application/json"));
        response.EnsureSuccessStatusCode();
        requestsMs.Add(Stopwatch.GetElapsedTime(sent).TotalMilliseconds);
    }
    var seconds = Stopwatch.GetElapsedTime(started).TotalSeconds;
    var cpu = Process.GetCurrentProcess().TotalProcessorTime - cpuStarted;
    // Untimed, as the peer harness does before a timed worker: the planner's statistics for the
    // queue just filled (a claim's plan and cost depend on them), and the new rows written out.
    await using (var db = await app.Services.GetRequiredService<IDbContextFactory<JobsDbContext>>().CreateDbContextAsync())
        await db.Database.ExecuteSqlRawAsync(a.Provider == "postgres" ? "ANALYZE; CHECKPOINT" : "ANALYZE; PRAGMA wal_checkpoint(TRUNCATE)");
    // The first request pays for code met for the first time (a 1,000-job insert, its arrays); the
    // median is the rate once it has run. The CPU is the process's (the client's share with the
    // service's, the runtime's compiler and collector included) over the timed requests: it moves
    // less with the machine's other load than the wall clock does.
    return new { command = "enqueue", provider = a.Provider, n = a.N, seconds, jobs_per_second = a.N / seconds,
        first_request_ms = requestsMs[0], median_request_ms = requestsMs.Order().ElementAt(requestsMs.Count / 2),
        cpu_us_per_job = cpu.TotalMicroseconds / a.N };
}

static async Task WarmUpBatch(HttpClient http)
{
    var body = JsonSerializer.Serialize(new { jobs = new[] { new { type = "echo", payload = new { text = "warm-up" }, run_at = DateTime.UtcNow.AddDays(1) } } });
    using var response = await http.PostAsync("/jobs/batch", new StringContent(body, Encoding.UTF8, "application/json"));
    response.EnsureSuccessStatusCode();
    var id = JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement.GetProperty("items")[0].GetProperty("id").GetString();
    (await http.PostAsync($"/jobs/{id}/cancel", null)).EnsureSuccessStatusCode();
}

static async Task<object> Work(BenchArgs a)
{
    var enough = new TaskCompletionSource();
    NoopHandler.OnRun = _ => { if (Volatile.Read(ref NoopHandler.Distinct) >= a.N) enough.TrySetResult(); };
    var startedAt = DateTime.UtcNow;
    var started = Stopwatch.GetTimestamp();
    var app = await BenchHost.StartAsync(a, "worker", "--Worker:ShutdownGraceSeconds=30");
    var hostStarted = Stopwatch.GetElapsedTime(started).TotalSeconds;
    // What the start cost in the JIT (all threads): the methods no ReadyToRun image had code for.
    var (jitMethodsStarted, jitMsStarted) = (System.Runtime.JitInfo.GetCompiledMethodCount(), System.Runtime.JitInfo.GetCompilationTime().TotalMilliseconds);
    var cpuStarted = Process.GetCurrentProcess().TotalProcessorTime; // the drain's CPU, without the host's start-up
    var (allocatedStarted, gcsStarted) = (GC.GetTotalAllocatedBytes(), GC.CollectionCount(0));
    var topAllocations = int.Parse(a.Get("allocations", "0"));
    using var allocations = topAllocations > 0 ? new AllocationSampler() : null;
    // Stopped (Ctrl+C, SIGTERM) before N jobs started, say how far it got instead of waiting for ever: with nothing
    // enqueued (`enqueue` first) no job ever starts.
    try { await enough.Task.WaitAsync(app.Lifetime.ApplicationStopping); }
    catch (OperationCanceledException)
    {
        await app.DisposeAsync();
        throw new InvalidOperationException($"Stopped after {Volatile.Read(ref NoopHandler.Distinct)} of {a.N} jobs started; `enqueue` puts them in the queue first.");
    }
    var drainCpu = Process.GetCurrentProcess().TotalProcessorTime - cpuStarted;
    var (drainAllocated, drainGcs) = (GC.GetTotalAllocatedBytes() - allocatedStarted, GC.CollectionCount(0) - gcsStarted);
    var (drainJitMethods, drainJitMs) = (System.Runtime.JitInfo.GetCompiledMethodCount() - jitMethodsStarted,
        System.Runtime.JitInfo.GetCompilationTime().TotalMilliseconds - jitMsStarted);
    var finished = Stopwatch.GetTimestamp();
    var finishedAt = DateTime.UtcNow;
    var drainAllocations = allocations?.Top(topAllocations); // stops the sample, outside the timed window
    // Throughput from the first job's start to the Nth: the host's own start-up is not the queue's speed.
    var handled = (finished - NoopHandler.StartedAt.Values.Min()) / (double)Stopwatch.Frequency;
    var stopping = Stopwatch.GetTimestamp();
    await app.StopAsync(); // graceful: in-flight completions are written before this returns
    var stopped = Stopwatch.GetElapsedTime(started).TotalSeconds;
    var stopSeconds = Stopwatch.GetElapsedTime(stopping).TotalSeconds; // the stop alone, not the count and dispose below
    int completed;
    await using (var scope = app.Services.CreateAsyncScope())
        completed = await scope.ServiceProvider.GetRequiredService<JobsDbContext>().Jobs.CountAsync(j => j.Status == JobStatus.Completed);
    await app.DisposeAsync();
    return new
    {
        command = "work", provider = a.Provider, n = a.N, concurrency = int.Parse(a.Get("concurrency", "200")),
        started_at = startedAt, finished_at = finishedAt, seconds = handled, jobs_per_second = a.N / handled,
        seconds_with_startup = Stopwatch.GetElapsedTime(started, finished).TotalSeconds,
        seconds_until_stopped = stopped, completed_in_database = completed,
        ran_twice = NoopHandler.Runs.Count(r => r.Value > 1),
        cpu_seconds = Process.GetCurrentProcess().TotalProcessorTime.TotalSeconds, drain_cpu_seconds = drainCpu.TotalSeconds,
        // The drain's garbage: bytes allocated per job and the collections they cost (each one stops every thread).
        drain_allocated_bytes_per_job = drainAllocated / a.N, drain_gen0_collections = drainGcs,
        // The runtime still compiling during the drain: code met for the first time (the framework's generic code
        // over the service's types, which no ReadyToRun image holds) and hot code compiled again, optimized.
        drain_jit_methods = drainJitMethods, drain_jit_ms = drainJitMs,
        drain_allocations = drainAllocations, // with --allocations K: the K types with the most sampled bytes
        // Where the whole window goes: host build and start (migration check included), then to the first handler start, then the stop.
        host_started_seconds = hostStarted,
        jit_methods_at_host_started = jitMethodsStarted, jit_ms_at_host_started = jitMsStarted,
        first_handler_seconds = (NoopHandler.StartedAt.Values.Min() - started) / (double)Stopwatch.Frequency,
        stop_seconds = stopSeconds,
    };
}

static async Task<object> Latency(BenchArgs a)
{
    await using var app = await BenchHost.StartAsync(a, "all", "--Worker:Concurrency=10");
    var transitions = app.Services.GetRequiredService<JobTransitions>();
    var contexts = app.Services.GetRequiredService<IDbContextFactory<JobsDbContext>>();
    var interval = int.Parse(a.Get("interval-ms", "20"));
    var samples = new List<double>();
    await transitions.Driver.Notifier.Listening;
    await Task.Delay(500); // the worker is up and idle
    var warmup = int.Parse(a.Get("warmup", "20")); // not measured: the first runs of each code path are JIT-compiled
    var (allocatedBefore, gcsBefore) = (0L, 0);
    for (var i = -warmup; i < a.N; i++)
    {
        if (i == 0) (allocatedBefore, gcsBefore) = (GC.GetTotalAllocatedBytes(precise: true), GC.CollectionCount(0));
        var id = Guid.CreateVersion7();
        var now = DateTime.UtcNow;
        var started = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        NoopHandler.OnRun = ran => { if (ran == id) started.TrySetResult(); };
        await using (var db = await contexts.CreateDbContextAsync())
            await transitions.CreateAsync(db, [new Job { Id = id, Type = "bench_noop", Payload = "{}", MaxAttempts = 1, RunAt = now, CreatedAt = now, UpdatedAt = now }], "the bench", maxActive: 0, default);
        var committed = Stopwatch.GetTimestamp(); // the commit announces the job, as POST /jobs does
        await started.Task.WaitAsync(TimeSpan.FromSeconds(10)); // no spinning: it would steal a core from the worker
        var startedAt = NoopHandler.StartedAt[id];
        if (i >= 0) samples.Add(Math.Max(0, (startedAt - committed) * 1000.0 / Stopwatch.Frequency));
        await Task.Delay(interval);
    }
    // What the process allocated for each measured job (its insert, its claims, its run and completion,
    // the idle worker's polls meanwhile and this loop's own), and the collections that made: the
    // idle path's garbage, which the throughput runs' per-job figure does not show.
    var (allocatedPerJob, gcs) = ((GC.GetTotalAllocatedBytes(precise: true) - allocatedBefore) / a.N, GC.CollectionCount(0) - gcsBefore);
    samples.Sort();
    double P(double q) => samples[(int)Math.Min(samples.Count - 1, Math.Ceiling(q * samples.Count) - 1)];
    return new { command = "latency", provider = a.Provider, n = a.N, p50_ms = P(0.50), p95_ms = P(0.95), p99_ms = P(0.99), max_ms = samples[^1],
        allocated_bytes_per_job = allocatedPerJob, gen0_collections = gcs };
}

static async Task<object> Progress(BenchArgs a)
{
    await using var app = await BenchHost.StartAsync(a, "all");
    var contexts = app.Services.GetRequiredService<IDbContextFactory<JobsDbContext>>();
    using var http = BenchHost.Client(app);
    var tokens = int.Parse(a.Get("tokens", "5000"));
    var response = await http.PostAsJsonAsync("/jobs", new { type = "bench_tokens", payload = new { tokens, token_ms = double.Parse(a.Get("token-ms", "1")) } });
    var id = (await response.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("id").GetGuid();
    var started = Stopwatch.GetTimestamp();
    var seen = new SortedSet<int>();
    while (true)
    {
        var job = await http.GetFromJsonAsync<JsonElement>($"/jobs/{id}");
        seen.Add(job.GetProperty("progress").GetInt32());
        if (job.GetProperty("status").GetString() is "completed" or "failed") break;
        await Task.Delay(100); // a frontend polling 10 times a second
    }
    int rows;
    await using (var db = await contexts.CreateDbContextAsync())
        rows = await db.JobEvents.CountAsync(e => e.JobId == id && e.Kind == "progress");
    return new
    {
        command = "progress", provider = a.Provider, tokens_reported = tokens, progress_rows_written = rows,
        reports_per_row = (double)tokens / rows, seconds = Stopwatch.GetElapsedTime(started).TotalSeconds,
        distinct_progress_values_seen_by_poller = seen.Count,
    };
}

/// <summary>PostgreSQL: a new, empty jobservice_bench database on the server of --connection.</summary>
static async Task<object> DropCreate(BenchArgs a)
{
    await using var admin = new Npgsql.NpgsqlConnection(a.Connection);
    await admin.OpenAsync();
    foreach (var sql in new[] { "DROP DATABASE IF EXISTS jobservice_bench WITH (FORCE)", "CREATE DATABASE jobservice_bench" })
        await new Npgsql.NpgsqlCommand(sql, admin).ExecuteNonQueryAsync();
    return new { command = "drop-create", database = "jobservice_bench" };
}

static async Task<object> RunWorker(BenchArgs a)
{
    var record = a.Get("record", "runs.log");
    var writer = new StreamWriter(record, append: true) { AutoFlush = true };
    var gate = new Lock();
    NoopHandler.OnRun = id => { lock (gate) writer.WriteLine(id); }; // flushed per line: a SIGKILL keeps every line
    var app = await BenchHost.StartAsync(a, "worker",
        $"--Worker:LeaseSeconds={a.Get("lease-seconds", "4")}", $"--Worker:HeartbeatSeconds={a.Get("heartbeat-seconds", "1")}",
        $"--Worker:RescueIntervalSeconds=1", "--Worker:RetryBaseSeconds=0.1", "--Worker:PollIntervalMs=200");
    Console.WriteLine("ready");
    await app.WaitForShutdownAsync();
    return new { command = "run-worker", runs = NoopHandler.Runs.Values.Sum() };
}
