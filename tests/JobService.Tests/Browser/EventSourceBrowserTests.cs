using System.Text.Json;
using JobService.Data;
using JobService.Tests.Infrastructure;
using Microsoft.AspNetCore.Hosting;
using Microsoft.Extensions.DependencyInjection;

namespace JobService.Tests.Browser;

/// <summary>
/// A page in a real browser uses the browser's own EventSource on GET /jobs/{id}/events, the
/// way a frontend would; the server closes the stream every second (Events:MaxStreamSeconds)
/// so that the browser's automatic reconnect with Last-Event-ID is exercised on the way.
/// </summary>
public sealed class EventSourceBrowserTests
{
    const string Page = """
        <!doctype html><meta charset="utf-8"><title>events</title>
        <script>
        const job = new URLSearchParams(location.search).get('job');
        const state = window.state = { kinds: [], ids: [], progress: [], lengths: [], opens: 0, text: '', final: null, done: false };
        const source = new EventSource(`/jobs/${job}/events`);
        source.onopen = () => state.opens++;
        const on = (name, use) => source.addEventListener(name, e => {
          state.kinds.push(name);
          state.ids.push(Number(e.lastEventId));
          use(JSON.parse(e.data));
        });
        on('snapshot', d => { state.progress.push(d.progress); state.text = d.output ?? ''; }); // the text so far, which output events continue
        on('progress', d => state.progress.push(d.progress));
        on('output', d => { state.text = state.text.slice(0, d.offset) + d.text; state.lengths.push(state.text.length); });
        for (const name of ['status', 'log', 'usage']) on(name, () => {});
        on('completed', d => { state.progress.push(d.progress); state.final = d; state.done = true; source.close(); });
        </script>
        """;

    [Fact]
    public async Task TheBrowsersEventSourceSeesTheSnapshotRisingProgressGrowingTextAndTheEndAcrossReconnects()
    {
        await using var app = new WorkerApp(TestDatabase.Sqlite(), new()
        {
            ["Events:MaxStreamSeconds"] = "1", ["Events:RetryMs"] = "100",
            ["Llm:Offline:TokensPerSecond"] = "25", ["Worker:ProgressIntervalMs"] = "200", ["Events:OutputFlushMs"] = "100",
        }, realClock: true, kestrel: true, configure: s => s.AddSingleton<IStartupFilter>(new ServedPage("/test/events.html", Page)));
        var (playwright, browser) = await Infrastructure.Browser.LaunchAsync();
        using var _ = playwright;
        await using var __ = browser;
        var id = await app.SubmitAsync(new { type = "text_generation", payload = new { prompt = "A story about queues", max_tokens = 80 } });

        var page = await browser.NewPageAsync();
        await page.GotoAsync(new Uri(app.BaseAddress, $"/test/events.html?job={id}").ToString());
        await page.WaitForFunctionAsync("window.state.done", null, new() { Timeout = 60_000 });
        var state = await page.EvaluateAsync<JsonElement>("window.state");

        var job = await app.WaitForStatusAsync(id, JobStatus.Completed);
        var kinds = state.GetProperty("kinds").EnumerateArray().Select(k => k.GetString()).ToList();
        Assert.Equal("snapshot", kinds[0]);
        Assert.Equal("completed", kinds[^1]);
        var progress = state.GetProperty("progress").EnumerateArray().Select(p => p.GetInt32()).ToList();
        Assert.Equal(progress.Order(), progress); // never down
        Assert.True(progress.Distinct().Count() >= 3, $"progress seen: {string.Join(", ", progress)}");
        Assert.Equal(100, progress[^1]);
        var lengths = state.GetProperty("lengths").EnumerateArray().Select(l => l.GetInt32()).ToList();
        Assert.True(lengths.Count >= 3 && lengths.SequenceEqual(lengths.Order()), $"text lengths seen: {string.Join(", ", lengths)}"); // growing
        Assert.Equal(JsonDocument.Parse(job.Result!).RootElement.GetProperty("text").GetString(), state.GetProperty("text").GetString());
        Assert.Equal("completed", state.GetProperty("final").GetProperty("status").GetString());
        Assert.True(state.GetProperty("opens").GetInt32() >= 2, "the server closed the stream and the browser resumed it");
        // Across the reconnects: every seq after the snapshot arrived once, in order, none missing.
        var ids = state.GetProperty("ids").EnumerateArray().Select(i => i.GetInt64()).ToList();
        Assert.Equal(ids.Order(), ids);
        var seqs = ids.Distinct().ToList();
        Assert.Equal(Enumerable.Range((int)seqs[0], seqs.Count).Select(n => (long)n), seqs);
        Assert.Equal(job.EventSeq, seqs[^1]);
        var duplicates = kinds.Zip(ids).GroupBy(x => x).Where(g => g.Count() > 1).Select(g => g.Key).ToList();
        Assert.Empty(duplicates); // no event twice
    }
}
