using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using JobService.Data;
using JobService.Hosting;
using JobService.Tests.Infrastructure;

namespace JobService.Tests.Observability;

/// <summary>
/// GET /metrics through the real pipeline (OpenTelemetry's Prometheus exporter), after real jobs:
/// the names, types, suffixes and labels ops write their queries against, and counters that move
/// by exactly what the jobs did. SQLite, the real clock, an OpenAI-compatible server of the test's own.
/// </summary>
public sealed class MetricsEndpointTests : IAsyncLifetime
{
    ChatCompletionsServer _server = null!;
    WebhookReceiver _receiver = null!;
    WorkerApp _app = null!;

    public async ValueTask InitializeAsync()
    {
        _server = await ChatCompletionsServer.StartAsync();
        _receiver = await WebhookReceiver.StartAsync();
        _app = new WorkerApp(TestDatabase.Sqlite(), _server.ProviderSettings(new()
        {
            ["Worker:LeaseSeconds"] = "300", // leases are not under test here
            ["Metrics:GaugeCacheSeconds"] = "0",
            ["Webhooks:AllowPrivateNetworks"] = "true", ["Webhooks:AllowedPorts:0"] = _receiver.Port.ToString(),
            ["RateLimits:StreamsPerKey"] = "1", // a second open stream is a 429 of the streams policy
        }), realClock: true);
        _ = _app.Client;
    }

    public async ValueTask DisposeAsync()
    {
        await _app.DisposeAsync();
        await _server.DisposeAsync();
        await _receiver.DisposeAsync();
    }

    /// <summary>Every metric of docs/observability.md, with the labels it must carry.</summary>
    static readonly (string Name, string Type, string[] Labels)[] Documented =
    [
        ("jobservice_jobs_created_total", "counter", ["type"]),
        ("jobservice_jobs_finished_total", "counter", ["type", "status"]),
        ("jobservice_job_attempts_total", "counter", ["type", "outcome"]),
        ("jobservice_job_queue_wait_seconds", "histogram", ["type"]),
        ("jobservice_job_run_duration_seconds", "histogram", ["type", "status"]),
        ("jobservice_job_end_to_end_seconds", "histogram", ["type", "status"]),
        ("jobservice_jobs", "gauge", ["type", "status"]),
        ("jobservice_oldest_pending_age_seconds", "gauge", ["type"]),
        ("jobservice_worker_slots", "gauge", ["type", "state"]),
        ("jobservice_llm_requests_total", "counter", ["type", "model", "outcome"]),
        ("jobservice_llm_tokens_total", "counter", ["type", "model", "token_type"]),
        ("jobservice_llm_cost_usd_total", "counter", ["type", "model"]),
        ("jobservice_llm_time_to_first_token_seconds", "histogram", ["type", "model"]),
        ("jobservice_sse_connections", "gauge", ["stream"]),
        ("jobservice_webhook_deliveries_total", "counter", ["outcome"]),
        ("jobservice_rate_limited_total", "counter", ["policy"]),
        // OpenTelemetry's own names: Prometheus spells their dots as underscores.
        ("gen_ai_client_token_usage", "histogram", ["gen_ai_operation_name", "gen_ai_provider_name", "gen_ai_request_model", "gen_ai_token_type"]),
        ("gen_ai_client_operation_duration_seconds", "histogram", ["gen_ai_operation_name", "gen_ai_provider_name", "gen_ai_request_model"]),
        ("http_server_request_duration_seconds", "histogram", ["http_request_method", "http_route", "http_response_status_code"]),
        ("http_client_request_duration_seconds", "histogram", ["http_request_method", "server_address"]),
    ];

    [Fact]
    public async Task TheScrapeHasEveryDocumentedMetricInPrometheusConventions()
    {
        _server.Enqueue(new ChatReply { Usage = (11, 40) });
        await using (var open = await SseClient.OpenAsync(_app.Client, "/events")) // held open: the next one is over the limit
            await (await _app.Client.GetAsync("/events", HttpCompletionOption.ResponseHeadersRead)).ShouldBeProblemAsync(HttpStatusCode.TooManyRequests);
        var callback = _receiver.Url.ToString();
        await _app.WaitForStatusAsync(await _app.SubmitAsync(new { type = "text_generation", payload = new { prompt = "A haiku" }, callback_url = callback }), JobStatus.Completed);
        await _receiver.NextAsync();

        var scrape = await WaitForScrapeAsync(s => s.Sum("jobservice_jobs_finished_total") >= 1 && s.Sum("jobservice_webhook_deliveries_total") >= 1);
        Assert.Equal(1, scrape.Sum("jobservice_webhook_deliveries_total", ("outcome", "succeeded")));
        Assert.Equal(1, scrape.Sum("jobservice_rate_limited_total", ("policy", "streams")));

        foreach (var (name, type, labels) in Documented)
        {
            var samples = scrape.Samples.Where(s => s.Name == name || (type == "histogram" && s.Name is var n && (n == name + "_bucket" || n == name + "_sum" || n == name + "_count"))).ToList();
            Assert.True(samples.Count > 0, $"{name} is not in the scrape");
            Assert.True(scrape.Types.TryGetValue(name, out var declared), $"{name} has no # TYPE line");
            Assert.Equal(type, declared);
            Assert.All(samples, s => Assert.All(labels, l => Assert.True(s.Labels.ContainsKey(l), $"{s.Name} lacks the label {l}")));
        }
        Assert.All(scrape.Types.Where(t => t.Value == "counter"), t => Assert.EndsWith("_total", t.Key));
        foreach (var histogram in scrape.Types.Where(t => t.Value == "histogram").Select(t => t.Key))
        {
            Assert.Contains(scrape.Samples, s => s.Name == histogram + "_bucket" && s.Labels.ContainsKey("le"));
            Assert.Contains(scrape.Samples, s => s.Name == histogram + "_sum");
            Assert.Contains(scrape.Samples, s => s.Name == histogram + "_count");
        }
        // Job run durations reach an hour (LLM jobs run for minutes).
        Assert.Contains(scrape.Matching("jobservice_job_run_duration_seconds_bucket"), s => s.Labels["le"] == "3600");
        // Cardinality: no label names a job.
        var id = (await _app.Client.GetFromJsonAsync<JsonElement>("/jobs")).GetProperty("items")[0].GetProperty("id").GetString()!;
        Assert.DoesNotContain(scrape.Samples, s => s.Labels.Values.Contains(id));
    }

    [Fact]
    public async Task OneCompletedTextGenerationJobMovesEachCounterByExactlyWhatItDid()
    {
        var before = await ScrapeAsync();
        _server.Enqueue(new ChatReply { Chunks = ["Queues ", "wait ", "in ", "line."], Usage = (11, 40) });

        var id = await _app.SubmitAsync(new { type = "text_generation", payload = new { prompt = "A haiku about queues" } });
        await _app.WaitForStatusAsync(id, JobStatus.Completed);
        var after = await WaitForScrapeAsync(s => s.Sum("jobservice_jobs_finished_total") > before.Sum("jobservice_jobs_finished_total"));
        var usage = (await _app.Client.GetFromJsonAsync<JsonElement>($"/jobs/{id}")).GetProperty("usage");

        double Moved(string name, params (string, string)[] labels) => after.Sum(name, labels) - before.Sum(name, labels);
        var type = ("type", "text_generation");
        var model = ("model", "test-model");
        Assert.Equal(1, Moved("jobservice_jobs_created_total", type));
        Assert.Equal(1, Moved("jobservice_jobs_finished_total", type, ("status", "completed")));
        Assert.Equal(1, Moved("jobservice_jobs_finished_total"));
        Assert.Equal(1, Moved("jobservice_job_attempts_total", type, ("outcome", "success")));
        Assert.Equal(1, Moved("jobservice_job_attempts_total"));
        Assert.Equal(usage.GetProperty("prompt_tokens").GetInt32(), Moved("jobservice_llm_tokens_total", type, model, ("token_type", "input")));
        Assert.Equal(usage.GetProperty("completion_tokens").GetInt32(), Moved("jobservice_llm_tokens_total", type, model, ("token_type", "output")));
        Assert.Equal(usage.GetProperty("total_tokens").GetInt32(), Moved("jobservice_llm_tokens_total"));
        Assert.Equal(usage.GetProperty("cost_usd").GetDouble(), Moved("jobservice_llm_cost_usd_total", type, model), 12);
        Assert.Equal(1, Moved("jobservice_llm_requests_total", type, model, ("outcome", "ok")));
        Assert.Equal(1, Moved("jobservice_llm_time_to_first_token_seconds_count", type, model));
        Assert.Equal(1, Moved("jobservice_job_queue_wait_seconds_count", type));
        Assert.Equal(1, Moved("jobservice_job_run_duration_seconds_count", type, ("status", "completed")));
        Assert.Equal(1, Moved("jobservice_job_end_to_end_seconds_count", type, ("status", "completed")));
        Assert.Equal(2, Moved("gen_ai_client_token_usage_count", ("gen_ai_request_model", "test-model")));
        Assert.Equal(51, Moved("gen_ai_client_token_usage_sum", ("gen_ai_request_model", "test-model")));
        // The job's own times bound the histograms' sums.
        var job = await _app.JobAsync(id);
        Assert.InRange(Moved("jobservice_job_run_duration_seconds_sum", type), 0, (job.CompletedAt!.Value - job.StartedAt!.Value).TotalSeconds + 0.001);
        Assert.InRange(Moved("jobservice_job_end_to_end_seconds_sum", type), 0, (job.CompletedAt!.Value - job.CreatedAt).TotalSeconds + 0.002);
    }

    [Fact]
    public async Task AModelAJobNamesThatTheConfigurationDoesNotKnowIsCountedAsOther()
    {
        _server.Enqueue(new ChatReply { Usage = (5, 3) });
        var id = await _app.SubmitAsync(new { type = "text_generation", payload = new { prompt = "hi", model = "made-up-model-9000" } });
        await _app.WaitForStatusAsync(id, JobStatus.Completed);

        var scrape = await WaitForScrapeAsync(s => s.Sum("jobservice_llm_tokens_total") >= 8);

        Assert.Equal(8, scrape.Sum("jobservice_llm_tokens_total", ("model", "other")));
        Assert.DoesNotContain(scrape.Samples, s => s.Labels.Values.Contains("made-up-model-9000"));
    }

    async Task<PrometheusText> ScrapeAsync()
    {
        var response = await _app.Client.GetAsync("/metrics");
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("text/plain", response.Content.Headers.ContentType?.MediaType);
        return PrometheusText.Parse(await response.Content.ReadAsStringAsync());
    }

    /// <summary>The job's row commits a moment before the hook counts it (after the commit): scrape after each change until the count shows.</summary>
    Task<PrometheusText> WaitForScrapeAsync(Func<PrometheusText, bool> ready) =>
        _app.Changes.UntilAsync(ScrapeAsync, ready, TimeSpan.FromSeconds(15), _ => "the metrics never showed the job");
}
