using System.Collections.Concurrent;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace JobService.Tests.Infrastructure;

/// <summary>What the server answers to one request.</summary>
public sealed record ChatReply
{
    public int Status { get; init; } = 200;
    public string? RetryAfter { get; init; }
    /// <summary>Retry-After as an HTTP date this far after the request arrived (whole seconds: up to one second sooner).</summary>
    public TimeSpan? RetryAfterDateIn { get; init; }
    public string ErrorMessage { get; init; } = "error";
    public IReadOnlyList<string> Chunks { get; init; } = ["Hello", " there", "."];
    /// <summary>The server sends nothing until this completes (a model thinking in silence).</summary>
    public Task? Silence { get; init; }
    /// <summary>Awaited before content chunk i (from 0) is sent: a test holds the stream at a known point.</summary>
    public Func<int, Task>? BeforeChunk { get; init; }
    /// <summary>The usage chunk; null sends none (some servers do not).</summary>
    public (int Prompt, int Completion)? Usage { get; init; } = (10, 3);
    /// <summary>The finish chunk's reason: "stop", "length" (cut off by max_tokens).</summary>
    public string FinishReason { get; init; } = "stop";
    /// <summary>
    /// After this many content chunks the server sends an error event and closes the stream: no
    /// finish chunk, no usage, no [DONE] (what llama-server sends when it fails mid-answer).
    /// </summary>
    public int? BreakAfter { get; init; }
    /// <summary>After this many content chunks the server sends a data line that is not JSON, then closes.</summary>
    public int? GarbleAfter { get; init; }
    /// <summary>
    /// The stream breaks right after the finish chunk: a line cut short, then the end, with no usage
    /// and no [DONE] (the connection dropped). Cut in the data rather than by a reset, so that the
    /// client has surely read the finish chunk before it meets the break.
    /// </summary>
    public bool CutAfterFinish { get; init; }
    /// <summary>After the finish chunk and the usage, the stream stays open without [DONE] until this completes (or the client goes).</summary>
    public Task? SilenceAfterFinish { get; init; }

    public static ChatReply Json(string json) => new() { Chunks = Split(json, 7), Usage = (20, 10) };

    public static IReadOnlyList<string> Split(string text, int size) =>
        Enumerable.Range(0, (text.Length + size - 1) / size).Select(i => text.Substring(i * size, Math.Min(size, text.Length - i * size))).ToList();
}

/// <summary>A request as the server saw it.</summary>
public sealed class SeenRequest(JsonElement body, DateTime at)
{
    public JsonElement Body { get; } = body;
    public DateTime At { get; } = at;
    public TaskCompletionSource Aborted { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
}

/// <summary>
/// A local server that speaks the OpenAI chat-completions wire protocol over real HTTP:
/// POST /v1/chat/completions, streamed as Server-Sent Events (role chunk, content chunks, a
/// finish chunk, the usage chunk, data: [DONE]) or as one JSON body, and errors in OpenAI's
/// shape with status codes and Retry-After. Tests queue the replies and read the requests.
/// </summary>
public sealed class ChatCompletionsServer : IAsyncDisposable
{
    readonly WebApplication _app;
    readonly ConcurrentQueue<ChatReply> _replies = new();
    public ConcurrentQueue<SeenRequest> Requests { get; } = new();

    /// <summary>Completes when the first request has arrived.</summary>
    public TaskCompletionSource FirstRequest { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
    public string BaseUrl { get; }

    ChatCompletionsServer(WebApplication app)
    {
        _app = app;
        BaseUrl = app.Urls.First() + "/v1";
    }

    public static async Task<ChatCompletionsServer> StartAsync()
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        builder.Logging.ClearProviders();
        var app = builder.Build();
        ChatCompletionsServer? server = null;
        app.MapPost("/v1/chat/completions", (HttpContext http) => server!.Answer(http));
        await app.StartAsync();
        return server = new ChatCompletionsServer(app);
    }

    /// <summary>Settings that make the service use this server as its provider "test" (model "test-model", priced 1 and 2 USD per million tokens).</summary>
    public Dictionary<string, string?> ProviderSettings(Dictionary<string, string?>? extra = null)
    {
        var settings = new Dictionary<string, string?>
        {
            ["Llm:Providers:test:BaseUrl"] = BaseUrl,
            ["Llm:Providers:test:ApiKey"] = "sk-test-secret",
            ["Llm:Providers:test:DefaultModel"] = "test-model",
            ["Llm:Prices:test-model:InputPerMillion"] = "1",
            ["Llm:Prices:test-model:OutputPerMillion"] = "2",
            ["Llm:RetryBaseSeconds"] = "0.05",
        };
        foreach (var (key, value) in extra ?? []) settings[key] = value;
        return settings;
    }

    /// <summary>Above 0: every request is answered with this status (a provider that is down), whatever is queued.</summary>
    public int DownWith { get; set; }

    /// <summary>While <see cref="DownWith"/> is set: each answer waits for this first (the requests arrive, and are answered together).</summary>
    public Task? DownGate { get; set; }

    public void Enqueue(params ChatReply[] replies)
    {
        foreach (var reply in replies) _replies.Enqueue(reply);
    }

    async Task Answer(HttpContext http)
    {
        var body = await JsonSerializer.DeserializeAsync<JsonElement>(http.Request.Body);
        var seen = new SeenRequest(body, DateTime.UtcNow);
        Requests.Enqueue(seen);
        FirstRequest.TrySetResult();
        http.RequestAborted.Register(() => seen.Aborted.TrySetResult());
        if (DownWith > 0 && DownGate is { } gate) await gate.WaitAsync(http.RequestAborted);
        var reply = DownWith > 0 ? new ChatReply { Status = DownWith, ErrorMessage = "down" } : _replies.TryDequeue(out var next) ? next : new ChatReply();
        var model = body.TryGetProperty("model", out var m) ? m.GetString() : "unknown";

        if (reply.Status != 200)
        {
            http.Response.StatusCode = reply.Status;
            if (reply.RetryAfter is not null) http.Response.Headers.RetryAfter = reply.RetryAfter;
            if (reply.RetryAfterDateIn is { } within) http.Response.Headers.RetryAfter = (seen.At + within).ToString("R");
            await http.Response.WriteAsJsonAsync(new { error = new { message = reply.ErrorMessage, type = "test_error", code = reply.Status.ToString() } });
            return;
        }
        try
        {
            if (reply.Silence is not null) await reply.Silence.WaitAsync(http.RequestAborted);
            if (!(body.TryGetProperty("stream", out var s) && s.GetBoolean()))
            {
                await http.Response.WriteAsJsonAsync(new
                {
                    id = "chatcmpl-test", @object = "chat.completion", created = 1_700_000_000, model,
                    choices = new[] { new { index = 0, message = new { role = "assistant", content = string.Concat(reply.Chunks) }, finish_reason = "stop" } },
                    usage = new { prompt_tokens = reply.Usage?.Prompt ?? 0, completion_tokens = reply.Usage?.Completion ?? 0, total_tokens = (reply.Usage?.Prompt ?? 0) + (reply.Usage?.Completion ?? 0) },
                });
                return;
            }
            http.Response.ContentType = "text/event-stream";
            await Event(http, Chunk(model, new { role = "assistant", content = "" }, null));
            for (var i = 0; i < reply.Chunks.Count; i++)
            {
                if (reply.BeforeChunk is not null) await reply.BeforeChunk(i).WaitAsync(http.RequestAborted);
                if (i == reply.BreakAfter)
                {
                    await Event(http, new { error = new { code = 500, message = "Context size has been exceeded.", type = "server_error" } });
                    return;
                }
                if (i == reply.GarbleAfter)
                {
                    await http.Response.WriteAsync("data: {\"choices\": [{\"delta\": {\"content\": \"tr\n\n", http.RequestAborted);
                    return;
                }
                await Event(http, Chunk(model, new { content = reply.Chunks[i] }, null));
            }
            await Event(http, Chunk(model, new { }, reply.FinishReason));
            if (reply.CutAfterFinish)
            {
                await http.Response.WriteAsync("data: {\"id\": \"chatcmpl-te\n\n", http.RequestAborted);
                return;
            }
            if (reply.Usage is { } u)
                await Event(http, new
                {
                    id = "chatcmpl-test", @object = "chat.completion.chunk", created = 1_700_000_000, model, choices = Array.Empty<object>(),
                    usage = new { prompt_tokens = u.Prompt, completion_tokens = u.Completion, total_tokens = u.Prompt + u.Completion },
                });
            if (reply.SilenceAfterFinish is not null) await reply.SilenceAfterFinish.WaitAsync(http.RequestAborted);
            await http.Response.WriteAsync("data: [DONE]\n\n", http.RequestAborted);
        }
        catch (OperationCanceledException) when (http.RequestAborted.IsCancellationRequested)
        {
            // The client went away mid-answer: recorded in seen.Aborted.
        }
    }

    static object Chunk(string? model, object delta, string? finish) => new
    {
        id = "chatcmpl-test", @object = "chat.completion.chunk", created = 1_700_000_000, model,
        choices = new[] { new { index = 0, delta, finish_reason = finish } },
    };

    static async Task Event(HttpContext http, object data)
    {
        await http.Response.WriteAsync("data: " + JsonSerializer.Serialize(data) + "\n\n", http.RequestAborted);
        await http.Response.Body.FlushAsync(http.RequestAborted);
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
    }
}
