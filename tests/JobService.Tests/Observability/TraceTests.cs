using System.Collections;
using System.Diagnostics;
using System.Net.Http.Json;
using System.Text.Json;
using JobService.Data;
using JobService.Tests.Infrastructure;
using Microsoft.Extensions.DependencyInjection;
using OpenTelemetry.Trace;
using Serilog.Core;
using Serilog.Events;
using Serilog.Formatting.Compact;

namespace JobService.Tests.Observability;

/// <summary>
/// A trace as an OTLP collector would receive it, captured with OpenTelemetry's in-memory
/// exporter: POST /jobs's server span, the worker's <c>process {type}</c> span linked to the
/// context the job stored, and the model call inside it; and the log lines that lead to them.
/// </summary>
public sealed class TraceTests : IAsyncLifetime
{
    readonly Spans _spans = new();
    readonly LogCapture _logs = new();
    ChatCompletionsServer _server = null!;
    WorkerApp _app = null!;

    public async ValueTask InitializeAsync()
    {
        _server = await ChatCompletionsServer.StartAsync();
        _app = new WorkerApp(TestDatabase.Sqlite(), _server.ProviderSettings(new()
        {
            ["Worker:LeaseSeconds"] = "300",
            ["Serilog:MinimumLevel"] = "Information",
        }), realClock: true, configure: services =>
        {
            services.AddOpenTelemetry().WithTracing(t => t.AddInMemoryExporter(_spans)); // as OTEL_EXPORTER_OTLP_ENDPOINT adds OTLP's
            services.AddSingleton<ILogEventSink>(_logs);
        });
        _ = _app.Client;
    }

    public async ValueTask DisposeAsync()
    {
        await _app.DisposeAsync();
        await _server.DisposeAsync();
    }

    async Task<(Job Job, Activity Api, Activity Process)> RunTextJobAsync()
    {
        _server.Enqueue(new ChatReply { Usage = (11, 40) });
        var id = await _app.SubmitAsync(new { type = "text_generation", payload = new { prompt = "A haiku about queues", max_tokens = 40 } });
        var job = await _app.WaitForStatusAsync(id, JobStatus.Completed);
        // The process span ends after the outcome is written, a moment after the row says completed.
        var process = await WaitForSpanAsync(a => a.Source.Name == "JobService" && a.GetTagItem("messaging.message.id") as string == id.ToString());
        Assert.NotNull(job.TraceParent);
        var stored = ActivityContext.Parse(job.TraceParent, null);
        var api = await WaitForSpanAsync(a => a.TraceId == stored.TraceId && a.SpanId == stored.SpanId);
        return (job, api, process);
    }

    [Fact]
    public async Task TheWorkersProcessSpanIsLinkedToTheApiSpanByTheStoredContextWithTheModelCallInside()
    {
        var (job, api, process) = await RunTextJobAsync();

        Assert.Equal(ActivityKind.Server, api.Kind);
        Assert.Equal("POST", api.GetTagItem("http.request.method"));
        Assert.Equal("/jobs", api.GetTagItem("url.path"));
        // Linked, not parented: a trace of its own that points back at the request.
        Assert.Equal("process text_generation", process.DisplayName);
        Assert.Equal(ActivityKind.Consumer, process.Kind);
        Assert.Equal(default, process.ParentSpanId);
        Assert.NotEqual(api.TraceId, process.TraceId);
        var link = Assert.Single(process.Links);
        Assert.Equal((api.TraceId, api.SpanId), (link.Context.TraceId, link.Context.SpanId));
        Assert.Equal("jobservice", process.GetTagItem("messaging.system"));
        Assert.Equal("process", process.GetTagItem("messaging.operation.type"));
        Assert.Equal("text_generation", process.GetTagItem("messaging.destination.name"));
        Assert.Equal(job.Id.ToString(), process.GetTagItem("messaging.message.id"));
        Assert.Equal(1, process.GetTagItem("jobservice.job.attempt"));
        Assert.Equal(ActivityStatusCode.Unset, process.Status);

        var chat = Assert.Single(_spans.Snapshot(), a => a.ParentSpanId == process.SpanId && a.DisplayName == "chat test-model");
        Assert.Equal(process.TraceId, chat.TraceId);
        Assert.Equal(ActivityKind.Client, chat.Kind);
        Assert.Equal("chat", chat.GetTagItem("gen_ai.operation.name"));
        Assert.Equal("test", chat.GetTagItem("gen_ai.provider.name"));
        Assert.Equal("test-model", chat.GetTagItem("gen_ai.request.model"));
        Assert.Equal(job.PromptTokens, chat.GetTagItem("gen_ai.usage.input_tokens"));
        Assert.Equal(job.CompletionTokens, chat.GetTagItem("gen_ai.usage.output_tokens"));
        Assert.Equal(new[] { "stop" }, chat.GetTagItem("gen_ai.response.finish_reasons"));
        // The HTTP request to the model, inside the call.
        Assert.Contains(_spans.Snapshot(), a => a.ParentSpanId == chat.SpanId && a.Source.Name == "System.Net.Http");
    }

    [Fact]
    public async Task LogLinesCarryTheTraceAndSpanOfWhatWroteThem()
    {
        var (job, api, process) = await RunTextJobAsync();

        var request = Assert.Single(_logs.Snapshot(), e => e.MessageTemplate.Text.StartsWith("HTTP {RequestMethod:l} {RequestPath:l}")
            && e.Properties["RequestPath"].ToString() == "\"/jobs\"" && e.TraceId == api.TraceId);
        Assert.Equal(api.SpanId, request.SpanId);
        var jobLine = _logs.Snapshot().First(e => e.Properties.TryGetValue("JobId", out var j) && j.ToString() == job.Id.ToString()
            && e.MessageTemplate.Text.StartsWith("Job log:"));
        Assert.Equal((process.TraceId, process.SpanId), (jobLine.TraceId, jobLine.SpanId));
        // The attempt's log scope: every line its run writes says which job, type and attempt.
        Assert.Equal("\"text_generation\"", jobLine.Properties["JobType"].ToString());
        Assert.Equal("1", jobLine.Properties["Attempt"].ToString());
        Assert.Equal($"\" [job {job.Id} text_generation #1]\"", jobLine.Properties["JobTag"].ToString()); // the text format's prefix
        Assert.DoesNotContain("JobId", request.Properties.Keys); // a request's line is no attempt's
        // As Logs:Format=json writes it (CLEF): @tr and @sp lead to the trace.
        var json = new StringWriter();
        new RenderedCompactJsonFormatter().Format(jobLine, json);
        Assert.Contains($"\"@tr\":\"{process.TraceId}\"", json.ToString());
        Assert.Contains($"\"@sp\":\"{process.SpanId}\"", json.ToString());
        // And the job's own log (GET /jobs/{id}/logs): the lines its run wrote lead to the process span.
        var logs = await _app.Client.GetFromJsonAsync<JsonElement>($"/jobs/{job.Id}/logs");
        var lines = logs.GetProperty("items").EnumerateArray().ToList();
        var runLines = lines.Where(l => l.GetProperty("span_id").ValueKind == JsonValueKind.String).ToList();
        Assert.NotEmpty(runLines);
        var spansOfTheRun = _spans.Snapshot().Where(a => a.TraceId == process.TraceId).Select(a => a.SpanId.ToHexString()).ToList();
        Assert.All(runLines, l => Assert.Equal(process.TraceId.ToHexString(), l.GetProperty("trace_id").GetString()));
        Assert.All(runLines, l => Assert.Contains(l.GetProperty("span_id").GetString(), spansOfTheRun));
    }

    /// <summary>Waits, span by span as the exporter adds them, for one that matches.</summary>
    async Task<Activity> WaitForSpanAsync(Func<Activity, bool> match)
    {
        var deadline = DateTime.UtcNow.AddSeconds(15);
        while (true)
        {
            var added = _spans.Added; // taken before the look: a span added in between wakes the wait
            if (_spans.Snapshot().FirstOrDefault(match) is { } span) return span;
            var left = deadline - DateTime.UtcNow;
            Assert.True(await added.ArrivesWithinAsync(left), "the span was never exported");
        }
    }

    /// <summary>The exporter adds from the threads that end spans; the test reads copies.</summary>
    sealed class Spans : ICollection<Activity>
    {
        readonly List<Activity> _items = [];
        readonly JobService.Worker.JobWakeup _added = new();
        public Task Added => _added.Next;
        public List<Activity> Snapshot() { lock (_items) return [.. _items]; }
        public void Add(Activity item) { lock (_items) _items.Add(item); _added.Signal(); }
        public void Clear() { lock (_items) _items.Clear(); }
        public bool Contains(Activity item) { lock (_items) return _items.Contains(item); }
        public void CopyTo(Activity[] array, int index) { lock (_items) _items.CopyTo(array, index); }
        public bool Remove(Activity item) { lock (_items) return _items.Remove(item); }
        public int Count { get { lock (_items) return _items.Count; } }
        public bool IsReadOnly => false;
        public IEnumerator<Activity> GetEnumerator() => Snapshot().GetEnumerator();
        IEnumerator IEnumerable.GetEnumerator() => GetEnumerator();
    }

}
