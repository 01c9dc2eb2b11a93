using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using JobService.Data;
using JobService.Events;
using JobService.Handlers;
using JobService.Tests.Infrastructure;

namespace JobService.Tests.Events;

/// <summary>
/// The live event streams through real HTTP (Kestrel on loopback), on each provider: resume
/// without a gap or a duplicate after any event, 204 after the end, pings on a quiet stream,
/// ProblemDetails before a stream starts, and the stream over many jobs.
/// </summary>
public abstract class EventStreamContract
{
    protected abstract Task<TestDatabase> CreateDatabaseAsync();

    async Task<WorkerApp> StartAsync(Dictionary<string, string?>? settings = null)
    {
        var app = new WorkerApp(await CreateDatabaseAsync(), settings, realClock: true, kestrel: true);
        _ = app.Client;
        return app;
    }

    /// <summary>A job whose events are known: a progress report, two log lines, streamed text, a result.</summary>
    protected static string StoryScript(Task? gate = null) => Scripts.Add(async ctx =>
    {
        await ctx.ReportProgressAsync(30, "Thinking…");
        await ctx.LogAsync(JobLogLevel.Info, "one");
        if (gate is not null) await gate;
        await ctx.LogAsync(JobLogLevel.Warning, "two");
        ctx.StreamText("Hello, ", newCall: true);
        ctx.StreamText("world");
        return new { answer = 42 };
    });

    /// <summary>What a stream must send for the stored events after <paramref name="after"/>: each event, and a log event with the same id for a story line.</summary>
    protected static List<(string Event, string Id)> Expected(IEnumerable<JobEvent> events, long after) => events.Where(e => e.Seq > after)
        .SelectMany(e => e.Kind == "log" ? [("log", e.Seq.ToString())]
            : e.Message is null ? new[] { (e.Kind, e.Seq.ToString()) } : [(e.Kind, e.Seq.ToString()), ("log", e.Seq.ToString())])
        .ToList();

    [Fact]
    public async Task ResumingAfterAnyEventOfARealJobYieldsExactlyTheEventsAfterIt()
    {
        await using var app = await StartAsync();
        var id = await app.SubmitAsync(Scripts.Job(StoryScript()));
        await app.WaitForStatusAsync(id, JobStatus.Completed);
        var events = await app.EventsAsync(id);
        Assert.Equal(["created", "status", "progress", "log", "log", "output", "completed"], events.Select(e => e.Kind));

        for (long k = 0; k < events.Count; k++)
        {
            await using var stream = await SseClient.OpenAsync(app.Client, $"/jobs/{id}/events", k.ToString());
            Assert.Equal(HttpStatusCode.OK, stream.Status);
            Assert.Equal("text/event-stream", stream.Response.Content.Headers.ContentType?.MediaType);
            Assert.Equal("no-cache", stream.Response.Headers.CacheControl?.ToString());
            var got = await stream.ToEndAsync();

            Assert.Equal(Expected(events, k), got.Select(e => (e.Event, e.Id!)).ToList());
            Assert.Equal(3000, stream.RetryMs);
            foreach (var e in got)
            {
                var data = JsonDocument.Parse(e.Data).RootElement;
                Assert.Equal(id, data.GetProperty("job_id").GetGuid());
                Assert.Equal(long.Parse(e.Id!), data.GetProperty("seq").GetInt64());
            }
            var end = JsonDocument.Parse(got[^2].Data).RootElement; // the terminal event carries the whole job
            Assert.Equal("completed", got[^2].Event);
            Assert.Equal("completed", end.GetProperty("status").GetString());
            Assert.Equal(42, end.GetProperty("result").GetProperty("answer").GetInt32());
            Assert.Equal(id, end.GetProperty("id").GetGuid());
        }
        var output = JsonDocument.Parse(events.Single(e => e.Kind == "output").Data!).RootElement;
        Assert.Equal((0, "Hello, world"), (output.GetProperty("offset").GetInt32(), output.GetProperty("text").GetString()));

        var after = await app.Client.SendAsync(new HttpRequestMessage(HttpMethod.Get, $"/jobs/{id}/events") { Headers = { { "Last-Event-ID", events[^1].Seq.ToString() } } });
        Assert.Equal(HttpStatusCode.NoContent, after.StatusCode); // the browser stops reconnecting
        await using var past = await SseClient.OpenAsync(app.Client, $"/jobs/{id}/events", "1000"); // never sent for this job: the end as a snapshot
        Assert.Equal(("snapshot", events[^1].Seq.ToString()), Assert.Single(await past.ToEndAsync()) is var p ? (p.Event, p.Id!) : default);

        await using var fresh = await SseClient.OpenAsync(app.Client, $"/jobs/{id}/events");
        var snapshot = Assert.Single(await fresh.ToEndAsync());
        Assert.Equal(("snapshot", events[^1].Seq.ToString()), (snapshot.Event, snapshot.Id!));
        Assert.Equal("completed", JsonDocument.Parse(snapshot.Data).RootElement.GetProperty("status").GetString());

        var query = await SseClient.OpenAsync(app.Client, $"/jobs/{id}/events?last_event_id=4"); // a reloaded page's stored id
        Assert.Equal(Expected(events, 4), (await query.ToEndAsync()).Select(e => (e.Event, e.Id!)).ToList());
        // An EventSource polyfill's reconnect says where it was as ?lastEventId= (it was a 400 once unknown parameters were).
        await using var polyfill = await SseClient.OpenAsync(app.Client, $"/jobs/{id}/events?lastEventId=4");
        Assert.Equal(Expected(events, 4), (await polyfill.ToEndAsync()).Select(e => (e.Event, e.Id!)).ToList());
    }

    /// <summary>
    /// Regression: a resume whose first event followed on from its id went across a compacted range
    /// further on without a word (the check looked only at the first event read). Every gap is one.
    /// </summary>
    [Fact]
    public async Task AResumeAcrossACompactedRangeGetsTheSnapshotAtTheGap()
    {
        await using var app = await StartAsync();
        var id = await app.SubmitAsync(Scripts.Job(StoryScript()));
        await app.WaitForStatusAsync(id, JobStatus.Completed);
        var whole = await app.EventsAsync(id);
        await app.Get<JobService.Transitions.JobTransitions>().CompactEventsAsync(DateTime.UtcNow.AddMinutes(1), null, 100, default);
        var events = await app.EventsAsync(id);
        Assert.Equal(["created", "status", "log", "log", "completed"], events.Select(e => e.Kind)); // progress (3) and output (6) gone

        await using var stream = await SseClient.OpenAsync(app.Client, $"/jobs/{id}/events", "1");
        var got = await stream.ToEndAsync();

        Assert.Equal([.. Expected(events.Take(2), 1), ("snapshot", whole[^1].Seq.ToString())], got.Select(e => (e.Event, e.Id!)).ToList());
        Assert.Equal("completed", JsonDocument.Parse(got[^1].Data).RootElement.GetProperty("status").GetString());
    }

    /// <summary>
    /// Regression: the snapshot of a running job showed the text of an earlier run that had the
    /// same attempt number (cancelled, then retried by hand: the count starts again), before the
    /// new run had written any.
    /// </summary>
    [Fact]
    public async Task ASnapshotShowsTheTextOfTheRunningRunNotOfAnEarlierOneWithItsAttemptNumber()
    {
        await using var app = await StartAsync();
        var runs = 0;
        var second = new TaskCompletionSource();
        var id = await app.SubmitAsync(Scripts.Job(Scripts.Add(async ctx =>
        {
            if (Interlocked.Increment(ref runs) == 2) await second.Task;
            ctx.StreamText(runs == 1 ? "the first run's text" : "the second", newCall: true);
            if (runs == 1) await new TaskCompletionSource().Task.WaitAsync(ctx.CancellationToken); // until cancelled
            return null;
        })));
        await app.Changes.UntilAsync(() => app.EventsAsync(id), events => events.Any(e => e.Kind == "output"), TimeSpan.FromSeconds(20),
            _ => "The first run's text was never stored.");
        Assert.Equal(HttpStatusCode.OK, (await app.Client.PostAsync($"/jobs/{id}/cancel", null)).StatusCode);
        await app.WaitForStatusAsync(id, JobStatus.Cancelled);
        Assert.Equal(HttpStatusCode.OK, (await app.Client.PostAsync($"/jobs/{id}/retry", null)).StatusCode);
        var running = await app.WaitForAsync(id, j => j.Status == JobStatus.Running, "running again");
        Assert.Equal(1, running.Attempt); // the first run's number

        await using var stream = await SseClient.OpenAsync(app.Client, $"/jobs/{id}/events");
        var snapshot = JsonDocument.Parse((await stream.NextAsync())!.Data).RootElement;
        second.SetResult();

        Assert.Equal("running", snapshot.Str("status"));
        Assert.False(snapshot.TryGetProperty("output", out var output), $"The snapshot's output: {output}");
        var got = await stream.ToEndAsync();
        var outputs = got.Where(e => e.Event == "output").Select(e => JsonDocument.Parse(e.Data).RootElement.Str("text"));
        Assert.True(outputs.SequenceEqual(["the second"]), $"snapshot {snapshot}; then {string.Join(" | ", got.Select(e => $"{e.Event} {e.Id} {e.Data}"))}; " +
            $"stored {string.Join(" | ", (await app.EventsAsync(id)).Select(e => $"{e.Seq} {e.Kind} {e.Message} {e.Data}"))}");
    }

    [Fact]
    public async Task AStreamFollowsARunningJobLiveFromItsSnapshotToItsEnd()
    {
        await using var app = await StartAsync();
        var gate = new TaskCompletionSource();
        var id = await app.SubmitAsync(Scripts.Job(StoryScript(gate.Task)));
        await app.WaitForAsync(id, j => j.EventSeq == 4, "running, at its first log line");

        await using var stream = await SseClient.OpenAsync(app.Client, $"/jobs/{id}/events");
        var snapshot = (await stream.NextAsync())!;
        Assert.Equal(("snapshot", "4"), (snapshot.Event, snapshot.Id!));
        Assert.Equal("running", JsonDocument.Parse(snapshot.Data).RootElement.GetProperty("status").GetString());
        gate.SetResult();
        var live = await stream.ToEndAsync();

        Assert.Equal(Expected(await app.EventsAsync(id), 4), live.Select(e => (e.Event, e.Id!)).ToList());
    }

    /// <summary>Regression: a Last-Event-ID past the job's last event (from elsewhere, or from before a restore) got pings until the stream's time ran out.</summary>
    [Fact]
    public async Task AResumeFromAPlaceTheJobNeverReachedStartsFromItsSnapshot()
    {
        await using var app = await StartAsync();
        var gate = new TaskCompletionSource();
        var id = await app.SubmitAsync(Scripts.Job(StoryScript(gate.Task)));
        await app.WaitForAsync(id, j => j.EventSeq == 4, "running, at its first log line");

        await using var stream = await SseClient.OpenAsync(app.Client, $"/jobs/{id}/events", "1000");
        var snapshot = (await stream.NextAsync())!;
        Assert.Equal(("snapshot", "4"), (snapshot.Event, snapshot.Id!));
        gate.SetResult();
        var live = await stream.ToEndAsync();

        Assert.Equal(Expected(await app.EventsAsync(id), 4), live.Select(e => (e.Event, e.Id!)).ToList());
    }

    [Fact]
    public async Task StreamsOfJobsRunningTogetherEachFollowOnlyTheirOwnJob()
    {
        await using var app = await StartAsync();
        var gate = new TaskCompletionSource();
        var ids = new List<Guid>();
        for (var i = 0; i < 3; i++) ids.Add(await app.SubmitAsync(Scripts.Job(StoryScript(gate.Task))));
        foreach (var id in ids) await app.WaitForAsync(id, j => j.EventSeq == 4, "running, at its first log line");
        var streams = new List<SseClient>();
        foreach (var id in ids) streams.Add(await SseClient.OpenAsync(app.Client, $"/jobs/{id}/events"));
        foreach (var stream in streams)
        {
            var snapshot = (await stream.NextAsync())!;
            Assert.Equal(("snapshot", "4"), (snapshot.Event, snapshot.Id!));
        }

        gate.SetResult(); // the three write their next events at once: their streams' reads go together
        var live = await Task.WhenAll(streams.Select(s => s.ToEndAsync()));

        foreach (var (id, got) in ids.Zip(live))
        {
            Assert.Equal(Expected(await app.EventsAsync(id), 4), got.Select(e => (e.Event, e.Id!)).ToList());
            Assert.All(got, e => Assert.Equal(id, JsonDocument.Parse(e.Data).RootElement.GetProperty("job_id").GetGuid()));
        }
        foreach (var stream in streams) await stream.DisposeAsync();
    }

    [Fact]
    public async Task AQuietStreamIsKeptOpenWithPings()
    {
        await using var app = await StartAsync(new() { ["Events:HeartbeatSeconds"] = "1" });
        var id = await app.SubmitAsync(new { type = "greet", payload = new { name = "later" }, run_at = DateTime.UtcNow.AddDays(1) });

        await using var stream = await SseClient.OpenAsync(app.Client, $"/jobs/{id}/events");
        Assert.Equal("snapshot", (await stream.NextAsync())!.Event);
        var ping = await stream.NextAsync(TimeSpan.FromSeconds(1 + 1), comments: true); // within HeartbeatSeconds + 1 of silence

        Assert.Equal((":", "ping"), (ping!.Event, ping.Data));
    }

    /// <summary>
    /// A list stream whose filter matches none of the jobs that keep changing is woken by each of
    /// them and sends nothing: it still pings, so that a proxy does not close it as idle.
    /// </summary>
    [Fact]
    public async Task AListStreamWokenOnlyByJobsItDoesNotMatchStillPings()
    {
        await using var app = await StartAsync(new() { ["Events:HeartbeatSeconds"] = "1" }); // reads 250 ms apart: a wake-up is always waiting
        await using var stream = await SseClient.OpenAsync(app.Client, "/events?type=scripted");
        Assert.Equal("snapshot-list", (await stream.NextAsync())!.Event);
        using var stop = new CancellationTokenSource();
        var others = Task.Run(async () => // greet jobs, one after another, until the ping came: a wake-up every few milliseconds
        {
            while (!stop.IsCancellationRequested) await app.SubmitAsync(new { type = "greet", payload = new { name = "other" } });
        });

        // Due within HeartbeatSeconds and a read interval; the wait is longer for a loaded machine: a stream that never pings waits for ever.
        var ping = await stream.NextAsync(TimeSpan.FromSeconds(15), comments: true);
        stop.Cancel();
        await others;

        Assert.Equal((":", "ping"), (ping!.Event, ping.Data));
    }

    [Fact]
    public async Task AStreamEndsAfterMaxStreamSecondsAndTheClientResumesWithoutAGap()
    {
        await using var app = await StartAsync(new() { ["Events:MaxStreamSeconds"] = "1" });
        var gate = new TaskCompletionSource();
        var id = await app.SubmitAsync(Scripts.Job(StoryScript(gate.Task)));
        await app.WaitForAsync(id, j => j.EventSeq == 4, "running, at its first log line");

        await using var first = await SseClient.OpenAsync(app.Client, $"/jobs/{id}/events");
        var before = await first.ToEndAsync(TimeSpan.FromSeconds(5)); // closed by the server after 1 s
        Assert.Equal(["snapshot"], before.Select(e => e.Event));
        gate.SetResult();
        await app.WaitForStatusAsync(id, JobStatus.Completed);

        await using var resumed = await SseClient.OpenAsync(app.Client, $"/jobs/{id}/events", before[^1].Id);
        Assert.Equal(Expected(await app.EventsAsync(id), 4), (await resumed.ToEndAsync()).Select(e => (e.Event, e.Id!)).ToList());
    }

    [Theory]
    [InlineData("/jobs/not-a-uuid/events", null, 400)]
    [InlineData("/jobs/{unknown}/events", null, 404)]
    [InlineData("/jobs/{job}/events", "seven", 400)]
    [InlineData("/jobs/{job}/events", "-1", 400)]
    [InlineData("/events?status=RUNNING", null, 400)]
    [InlineData("/events?job_id=nope", null, 400)]
    [InlineData("/events?include=log", null, 400)]
    [InlineData("/events", "42", 400)]
    public async Task WhatIsWrongBeforeAStreamStartsIsAProblemDetails(string path, string? lastEventId, int status)
    {
        await using var app = await StartAsync();
        var job = await app.SubmitAsync(new { type = "greet", payload = new { name = "x" }, run_at = DateTime.UtcNow.AddDays(1) });
        var request = new HttpRequestMessage(HttpMethod.Get, path.Replace("{unknown}", Guid.CreateVersion7().ToString()).Replace("{job}", job.ToString()));
        if (lastEventId is not null) request.Headers.Add("Last-Event-ID", lastEventId);

        var response = await app.Client.SendAsync(request);

        var problem = await response.ShouldBeProblemAsync((HttpStatusCode)status);
        Assert.True(problem.TryGetProperty("detail", out _) || problem.TryGetProperty("errors", out _), problem.ToString());
    }

    [Fact]
    public async Task TheStreamOverManyJobsStartsWithASnapshotListAndResumesFromItsCursor()
    {
        await using var app = await StartAsync();
        var waiting = await app.SubmitAsync(new { type = "greet", payload = new { name = "queued" }, run_at = DateTime.UtcNow.AddDays(1) });

        await using var stream = await SseClient.OpenAsync(app.Client, "/events?type=scripted&type=greet");
        var list = (await stream.NextAsync())!;
        Assert.Equal("snapshot-list", list.Event);
        Assert.Equal([waiting], JsonDocument.Parse(list.Data).RootElement.GetProperty("items").EnumerateArray().Select(j => j.GetProperty("id").GetGuid()));
        var id = await app.SubmitAsync(Scripts.Job(StoryScript()));
        var seen = new List<SseEvent>();
        while (seen.LastOrDefault()?.Event != "completed") seen.Add((await stream.NextAsync())!);

        Assert.Equal(["created", "status", "progress", "completed"], seen.Select(e => e.Event)); // no log or output unless asked for
        Assert.All(seen, e => Assert.Equal(id, JsonDocument.Parse(e.Data).RootElement.GetProperty("job_id").GetGuid()));
        Assert.All(seen, e => Assert.Equal("scripted", JsonDocument.Parse(e.Data).RootElement.GetProperty("job_type").GetString()));
        Assert.All(seen, e => Assert.StartsWith("t", e.Id));

        // Resumed from the first event's cursor: what came after is replayed (maybe with what came just before, to drop by job_id and seq).
        await using var resumed = await SseClient.OpenAsync(app.Client, "/events?type=scripted", seen[0].Id);
        var again = new List<(Guid, long)>();
        while (!again.Contains((id, seen[^1] is { } last ? JsonDocument.Parse(last.Data).RootElement.GetProperty("seq").GetInt64() : 0)))
        {
            var e = JsonDocument.Parse((await resumed.NextAsync())!.Data).RootElement;
            again.Add((e.GetProperty("job_id").GetGuid(), e.GetProperty("seq").GetInt64()));
        }
        Assert.Equal(seen.Skip(1).Select(e => (id, JsonDocument.Parse(e.Data).RootElement.GetProperty("seq").GetInt64())), again.SkipWhile(k => k.Item2 <= 1).Distinct());
    }

    /// <summary>
    /// Regression: on PostgreSQL, after more events than one read (500) at one time (a batch's), the
    /// stream stepped a tick past that time, which PostgreSQL's microseconds cannot hold: it read the
    /// same rows for ever and never reached a later event.
    /// </summary>
    [Fact]
    public async Task TheStreamOverManyJobsGoesOnPastABatchLargerThanOneRead()
    {
        await using var app = await StartAsync();
        await app.PauseAsync("greet");
        await using var stream = await SseClient.OpenAsync(app.Client, "/events?type=greet");
        Assert.Equal("snapshot-list", (await stream.NextAsync())!.Event);

        var batch = new { jobs = Enumerable.Range(0, 520).Select(i => new { type = "greet", payload = new { name = $"n{i}" } }) };
        Assert.Equal(HttpStatusCode.Created, (await app.Client.PostAsJsonAsync("/jobs/batch", batch)).StatusCode);
        var later = await app.SubmitAsync(new { type = "greet", payload = new { name = "later" } });

        var created = new List<Guid>();
        while (!created.Contains(later))
        {
            var e = (await stream.NextAsync(TimeSpan.FromSeconds(30)))!;
            if (e.Event == "created") created.Add(JsonDocument.Parse(e.Data).RootElement.GetProperty("job_id").GetGuid());
        }
        Assert.Equal(521, created.Distinct().Count());
    }

    /// <summary>Regression: a cursor far ahead of any clock here (never sent by this service) gave a stream that sent nothing, ever.</summary>
    [Fact]
    public async Task TheStreamOverManyJobsGivenACursorFromTheFutureStartsWithASnapshotList()
    {
        await using var app = await StartAsync();
        var waiting = await app.SubmitAsync(new { type = "greet", payload = new { name = "queued" }, run_at = DateTime.UtcNow.AddDays(1) });

        await using var stream = await SseClient.OpenAsync(app.Client, "/events?type=greet", AllEventsStream.Cursor(DateTime.UtcNow.AddDays(1)));
        var list = (await stream.NextAsync())!;

        Assert.Equal("snapshot-list", list.Event);
        Assert.Equal([waiting], JsonDocument.Parse(list.Data).RootElement.GetProperty("items").EnumerateArray().Select(j => j.GetProperty("id").GetGuid()));
    }

    [Fact]
    public async Task TheStreamOverManyJobsReadsNoMoreOftenThanItsInterval()
    {
        await using var app = await StartAsync(new() { ["Events:ListReadIntervalMs"] = "2000" });
        await using var stream = await SseClient.OpenAsync(app.Client, "/events?type=scripted");
        Assert.Equal("snapshot-list", (await stream.NextAsync())!.Event);
        var gate = new TaskCompletionSource();
        var id = await app.SubmitAsync(Scripts.Job(StoryScript(gate.Task)));
        while ((await stream.NextAsync())!.Event != "progress") { }

        // The read that sent the progress ended at most as long before this as the event took to arrive; the
        // job's end, a few milliseconds away once the gate opens, is read no sooner than 2 s after it.
        var clock = System.Diagnostics.Stopwatch.StartNew();
        gate.SetResult();
        await app.WaitForStatusAsync(id, JobStatus.Completed);
        var completed = await stream.NextAsync(TimeSpan.FromSeconds(30));

        Assert.Equal("completed", completed!.Event);
        Assert.True(clock.Elapsed >= TimeSpan.FromSeconds(1), $"the job's end was read {clock.Elapsed.TotalMilliseconds:F0} ms after the last read");
    }

    [Fact]
    public async Task StreamsReadTogetherEachGetTheirOwnJobsEventsAfterTheirOwnSeq()
    {
        await using var app = await StartAsync();
        var a = await app.SubmitAsync(Scripts.Job(StoryScript()));
        var b = await app.SubmitAsync(Scripts.Job(StoryScript()));
        await app.WaitForStatusAsync(a, JobStatus.Completed);
        await app.WaitForStatusAsync(b, JobStatus.Completed);
        var events = new Dictionary<Guid, List<JobEvent>> { [a] = await app.EventsAsync(a), [b] = await app.EventsAsync(b) };
        var gone = Guid.CreateVersion7();
        (Guid Job, long After)[] reads = [(a, 2), (b, -1), (gone, 0), (a, 5)];

        var results = await app.Get<JobService.Events.JobEventReads>().ReadBatchAsync(reads); // one statement on PostgreSQL, one connection on SQLite

        Assert.Equal(reads.Length, results.Count);
        foreach (var ((job, after), (got, row)) in reads.Zip(results))
        {
            var expected = events.GetValueOrDefault(job, []).Where(e => e.Seq > after);
            Assert.Equal(expected.Select(e => (e.JobId, e.Seq, e.Kind, e.Level, e.Message, e.Data, e.CreatedAt)),
                got.Select(e => (e.JobId, e.Seq, e.Kind, e.Level, e.Message, e.Data, e.CreatedAt)));
            Assert.Equal(job == gone ? null : job, row?.Id);
        }
        Assert.Equal(7, results[1].Events.Count); // b's whole story, from the start
        Assert.Equal(JobStatus.Completed, results[1].Job!.Status);
    }

    /// <summary>
    /// A stream further behind than one read's worth (<see cref="JobService.Events.JobEventReads.Batch"/>
    /// events) gets every event, in order, read after read; read together with another stream,
    /// its share of the batch stops at that many and the other's is whole.
    /// </summary>
    [Fact]
    public async Task AStreamFarBehindGetsEveryEventInReadsOfAtMostOneBatch()
    {
        const int batch = JobService.Events.JobEventReads.Batch;
        await using var app = await StartAsync();
        var chatty = await app.SubmitAsync(Scripts.Job(Scripts.Add(async ctx =>
        {
            for (var i = 0; i < batch + 20; i++) await ctx.LogAsync(JobLogLevel.Info, $"line {i}");
            return new { lines = batch + 20 };
        })));
        var story = await app.SubmitAsync(Scripts.Job(StoryScript()));
        await app.WaitForStatusAsync(chatty, JobStatus.Completed);
        await app.WaitForStatusAsync(story, JobStatus.Completed);
        var events = await app.EventsAsync(chatty);

        var results = await app.Get<JobService.Events.JobEventReads>().ReadBatchAsync([(chatty, 0), (story, 0)]);
        Assert.Equal(events.Take(batch).Select(e => e.Seq), results[0].Events.Select(e => e.Seq));
        Assert.Equal((await app.EventsAsync(story)).Select(e => e.Seq), results[1].Events.Select(e => e.Seq));

        await using var stream = await SseClient.OpenAsync(app.Client, $"/jobs/{chatty}/events", "0");
        Assert.Equal(Expected(events, 0), (await stream.ToEndAsync()).Select(e => (e.Event, e.Id!)).ToList());
    }

    /// <summary>
    /// A log line cut to its 10,000 characters where an emoji straddles the cut loses the whole
    /// emoji, not half of it: half a surrogate pair is no text the database takes, and the job's
    /// write (with its batch) failed.
    /// </summary>
    [Fact]
    public async Task ALongLogLineIsCutBetweenCharactersNotInsideOne()
    {
        await using var app = await StartAsync();
        var id = await app.SubmitAsync(Scripts.Job(Scripts.Add(async ctx =>
        {
            await ctx.LogAsync(JobLogLevel.Info, new string('a', 9_998) + "\U0001F600" + "tail");
            return new { logged = true };
        })));

        await app.WaitForStatusAsync(id, JobStatus.Completed);

        var line = (await app.LogsAsync(id)).Single(e => e.Message!.StartsWith("aaa")).Message!;
        Assert.Equal(new string('a', 9_998) + "…", line);
    }

    [Fact]
    public async Task HalfASurrogatePairAHandlerReportsIsStoredAsAReplacementCharacter()
    {
        await using var app = await StartAsync();
        var id = await app.SubmitAsync(Scripts.Job(Scripts.Add(async ctx =>
        {
            await ctx.ReportProgressAsync(50, "half \ud800 pair");
            await ctx.LogAsync(JobLogLevel.Info, "lone \udc00 low, whole \U0001F600 pair");
            return new { logged = true };
        })));

        await app.WaitForStatusAsync(id, JobStatus.Completed);

        var lines = (await app.LogsAsync(id)).Select(e => e.Message!).ToList();
        Assert.Contains("lone \uFFFD low, whole \U0001F600 pair", lines);
        Assert.Equal(1, (await app.JobAsync(id)).Attempt); // no attempt failed on the write
    }

    [Fact]
    public async Task EveryJobTellsItsStoryInItsLog()
    {
        await using var app = await StartAsync(new() { ["Llm:Offline:TokensPerSecond"] = "2000" });

        var echo = await app.SubmitAsync(new { type = "echo", payload = new { text = "hi" } });
        var world = await app.SubmitAsync(new { type = "create_world", payload = new { theme = "ocean" } });
        await app.WaitForStatusAsync(echo, JobStatus.Completed);
        await app.WaitForStatusAsync(world, JobStatus.Completed);

        var echoLines = (await app.LogsAsync(echo)).Select(l => l.Message!).ToList();
        Assert.Equal(3, echoLines.Count);
        Assert.Equal("Created by POST /jobs", echoLines[0]);
        Assert.Matches(@"^Claimed by worker \S+ for attempt 1 of 1$", echoLines[1]);
        Assert.Matches(@"^Completed in \d+ ms \(attempt 1 of 1\)$", echoLines[2]);
        var worldLines = (await app.LogsAsync(world)).Select(l => l.Message!).ToList();
        foreach (var step in new[] { "setting", "factions", "characters", "story" })
        {
            Assert.Contains(worldLines, l => l.StartsWith($"Calling offline via offline ({step}): "));
            Assert.Contains(worldLines, l => l.StartsWith($"Model call ({step}): offline via offline, ") && l.Contains(" completion tokens") && l.Contains(", $0, finish stop"));
        }
        Assert.Matches(@"^Completed in [\d.]+ m?s \(attempt 1 of \d+\)$", worldLines[^1]);
    }
}

public sealed class SqliteEventStreamTests : EventStreamContract
{
    protected override Task<TestDatabase> CreateDatabaseAsync() => Task.FromResult(TestDatabase.Sqlite());
}

public sealed class PostgresEventStreamTests : EventStreamContract
{
    protected override Task<TestDatabase> CreateDatabaseAsync() => TestDatabase.PostgresOrSkipAsync();

    /// <summary>
    /// Regression: GET /events reads by event time and looks back 2 s for late commits, and an
    /// event's time was its writer's clock when its transaction began. An instance whose clock ran
    /// 30 s ahead made a list stream skip every event written after its own; a cancel that waited
    /// for a row lock while later events were written 3 s after it began was never sent. The stream
    /// now reads PostgreSQL's events by written_at, the database's clock as each row was written.
    /// </summary>
    [Fact]
    public async Task TheStreamOverManyJobsMissesNoEventOfAnInstanceWhoseClockIsAheadOrOfAWriteThatWaitedForALock()
    {
        var database = await CreateDatabaseAsync();
        await using var __ = database;
        await using var api = new WorkerApp(database, new() { ["Service:Role"] = "api" }, kestrel: true, ownsDatabase: false);
        await using var ahead = new WorkerApp(database, new() { ["Service:Role"] = "api" }, ownsDatabase: false);
        ahead.Time.Advance(TimeSpan.FromSeconds(30));
        var later = DateTime.UtcNow.AddDays(1); // no worker: every job waits
        var held = await api.SubmitAsync(new { type = "greet", payload = new { name = "held" }, run_at = later });
        await using var stream = await SseClient.OpenAsync(api.Client, "/events?type=greet");
        Assert.Equal("snapshot-list", (await stream.NextAsync())!.Event);

        var fromAhead = await ahead.SubmitAsync(new { type = "greet", payload = new { name = "ahead" }, run_at = later });
        Assert.Equal(fromAhead, JsonDocument.Parse((await stream.NextAsync())!.Data).RootElement.GetProperty("job_id").GetGuid());
        var fromHere = await api.SubmitAsync(new { type = "greet", payload = new { name = "here" }, run_at = later });
        Assert.Equal(fromHere, JsonDocument.Parse((await stream.NextAsync())!.Data).RootElement.GetProperty("job_id").GetGuid());

        // A cancel that waits for a row lock held 3 s (past the stream's look-back) by another session.
        await using var sql = new Npgsql.NpgsqlConnection(database.ConnectionString);
        await sql.OpenAsync();
        await using var tx = await sql.BeginTransactionAsync();
        await using (var lockRow = new Npgsql.NpgsqlCommand($"SELECT id FROM jobs WHERE id = '{held}' FOR UPDATE", sql, tx)) await lockRow.ExecuteNonQueryAsync();
        var cancel = api.Client.PostAsync($"/jobs/{held}/cancel", null);
        await Poll.UntilAsync(async () =>
        {
            await using var waiting = new Npgsql.NpgsqlConnection(database.ConnectionString);
            await waiting.OpenAsync();
            await using var count = new Npgsql.NpgsqlCommand("SELECT count(*) FROM pg_locks WHERE locktype = 'transactionid' AND NOT granted", waiting);
            return (long)(await count.ExecuteScalarAsync())! > 0;
        }, "the cancel waiting for the row", TimeSpan.FromSeconds(30));
        api.Time.Advance(TimeSpan.FromSeconds(3)); // the cancel waits on: this instance's next write comes 3 s after the cancel began
        var other = await api.SubmitAsync(new { type = "greet", payload = new { name = "meanwhile" }, run_at = later });
        Assert.Equal(other, JsonDocument.Parse((await stream.NextAsync())!.Data).RootElement.GetProperty("job_id").GetGuid());
        await tx.CommitAsync();
        Assert.Equal(HttpStatusCode.OK, (await cancel).StatusCode);

        var cancelled = await stream.NextAsync(TimeSpan.FromSeconds(10));
        Assert.Equal(("cancelled", held), (cancelled!.Event, JsonDocument.Parse(cancelled.Data).RootElement.GetProperty("job_id").GetGuid()));
    }

    /// <summary>
    /// Streams read together (one statement on PostgreSQL) where one stream's rows cannot be read,
    /// here an event whose time is past what .NET holds: the batch is read again a stream at a
    /// time, so that only that stream's read fails and the other's gets its events. The batch is
    /// made by holding the table while a first read waits, so that the next two queue behind it.
    /// </summary>
    [Fact]
    public async Task StreamsReadTogetherWhereOnesRowsCannotBeReadAreReadAgainOneAtATime()
    {
        var database = await CreateDatabaseAsync();
        await using var app = new WorkerApp(database, realClock: true);
        var (first, good, bad) = (await app.SubmitAsync(Scripts.Job(StoryScript())), await app.SubmitAsync(Scripts.Job(StoryScript())),
            await app.SubmitAsync(Scripts.Job(StoryScript())));
        foreach (var id in new[] { first, good, bad }) await app.WaitForStatusAsync(id, JobStatus.Completed);
        await using var sql = new Npgsql.NpgsqlConnection(database.ConnectionString);
        await sql.OpenAsync();
        async Task RunAsync(string text)
        {
            await using var command = new Npgsql.NpgsqlCommand(text, sql);
            await command.ExecuteNonQueryAsync();
        }
        await RunAsync($"INSERT INTO job_events (job_id, seq, kind, level, message, created_at) VALUES ('{bad}', 1000, 'log', 'info', 'from far ahead', '20000-01-01')");
        var reads = app.Get<JobEventReads>();

        await RunAsync("BEGIN; LOCK TABLE job_events IN ACCESS EXCLUSIVE MODE");
        var firstRead = reads.ReadAsync(first, 0, CancellationToken.None);
        await Poll.UntilAsync(async () =>
        {
            await using var waiting = new Npgsql.NpgsqlConnection(database.ConnectionString);
            await waiting.OpenAsync();
            await using var count = new Npgsql.NpgsqlCommand("SELECT count(*) FROM pg_locks WHERE relation = 'job_events'::regclass AND NOT granted", waiting);
            return (long)(await count.ExecuteScalarAsync())! > 0;
        }, "the first read waiting for the table", TimeSpan.FromSeconds(30));
        var (goodRead, badRead) = (reads.ReadAsync(good, 0, CancellationToken.None), reads.ReadAsync(bad, 0, CancellationToken.None)); // queued together
        await RunAsync("COMMIT");

        Assert.Equal((await app.EventsAsync(first)).Select(e => e.Seq), (await firstRead).Events.Select(e => e.Seq));
        Assert.Equal((await app.EventsAsync(good)).Select(e => e.Seq), (await goodRead).Events.Select(e => e.Seq));
        await Assert.ThrowsAnyAsync<InvalidCastException>(() => badRead);
    }

    /// <summary>An API-only instance and a worker instance on one database: the client on the API sees the worker's events.</summary>
    [Fact]
    public async Task AClientOfAnApiInstanceSeesTheProgressAndEndOfAJobRunOnAWorkerInstance()
    {
        var database = await CreateDatabaseAsync();
        await using var __ = database;
        await using var api = new WorkerApp(database, new() { ["Service:Role"] = "api" }, realClock: true, kestrel: true, ownsDatabase: false);
        await using var worker = new WorkerApp(database, new() { ["Service:Role"] = "worker" }, realClock: true, ownsDatabase: false);
        _ = worker.Services; // started: it claims from the shared database
        var gate = new TaskCompletionSource();
        var id = await api.SubmitAsync(Scripts.Job(StoryScript(gate.Task)));
        await worker.WaitForAsync(id, j => j.EventSeq == 4, "running on the worker instance");
        Assert.Null(api.Services.GetService(typeof(JobService.Worker.JobWorker))); // the API instance runs no worker

        await using var stream = await SseClient.OpenAsync(api.Client, $"/jobs/{id}/events", "1");
        gate.SetResult();
        var got = await stream.ToEndAsync();

        Assert.Equal(Expected(await api.EventsAsync(id), 1), got.Select(e => (e.Event, e.Id!)).ToList());
        Assert.Contains(got, e => e.Event == "progress");
        Assert.Equal("completed", JsonDocument.Parse(got.Single(e => e.Event == "completed").Data).RootElement.GetProperty("status").GetString());
    }
}
