using System.Collections.Concurrent;
using System.Threading.Channels;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace JobService.Tests.Infrastructure;

/// <summary>A webhook as the receiver saw it: every header, the body's exact text, and what it answered.</summary>
public sealed record ReceivedWebhook(string Id, string Timestamp, string Signature, string Body, string? UserAgent, string? ContentType,
    IHeaderDictionary Headers, int Answered);

/// <summary>
/// A webhook receiver on a real Kestrel port on loopback: records each request and answers with
/// what the test scripted (200 once the script runs out). Tests verify what it received with
/// the StandardWebhooks library, never with the service's own code.
/// </summary>
public sealed class WebhookReceiver : IAsyncDisposable
{
    readonly WebApplication _app;
    readonly Channel<ReceivedWebhook> _received = Channel.CreateUnbounded<ReceivedWebhook>();
    readonly ConcurrentQueue<Action<HttpResponse>> _script = new();
    readonly ConcurrentQueue<Task> _holds = new();

    WebhookReceiver(WebApplication app) => _app = app;

    public Uri Url { get; private set; } = null!;
    public int Port => Url.Port;
    public ConcurrentQueue<ReceivedWebhook> All { get; } = new();

    public static async Task<WebhookReceiver> StartAsync()
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        builder.Logging.ClearProviders();
        var app = builder.Build();
        var receiver = new WebhookReceiver(app);
        app.Map("/{**path}", async (HttpContext http) =>
        {
            using var reader = new StreamReader(http.Request.Body);
            var body = await reader.ReadToEndAsync();
            var headers = new HeaderDictionary(http.Request.Headers.ToDictionary(h => h.Key, h => h.Value));
            if (receiver._script.TryDequeue(out var answer)) answer(http.Response);
            else http.Response.StatusCode = 200;
            var received = new ReceivedWebhook(headers["webhook-id"].ToString(), headers["webhook-timestamp"].ToString(),
                headers["webhook-signature"].ToString(), body, headers["User-Agent"].ToString(), http.Request.ContentType, headers, http.Response.StatusCode);
            receiver.All.Enqueue(received);
            await receiver._received.Writer.WriteAsync(received);
            if (receiver._holds.TryDequeue(out var hold)) await hold;
        });
        await app.StartAsync();
        var address = app.Services.GetRequiredService<Microsoft.AspNetCore.Hosting.Server.IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        receiver.Url = new Uri(address + "/hooks/jobs");
        return receiver;
    }

    /// <summary>The next answers, in order: a status, and optionally headers (Retry-After, Location).</summary>
    public void Answer(int status, params (string Name, string Value)[] headers) => _script.Enqueue(response =>
    {
        response.StatusCode = status;
        foreach (var (name, value) in headers) response.Headers[name] = value;
    });

    /// <summary>The next request's answer waits for <paramref name="until"/> (after the request is seen): a send held under way.</summary>
    public void HoldNext(Task until) => _holds.Enqueue(until);

    /// <summary>The next answer: a status and a body.</summary>
    public void Answer(int status, string body) => _script.Enqueue(response =>
    {
        response.StatusCode = status;
        response.ContentType = "text/plain; charset=utf-8";
        response.Body.WriteAsync(System.Text.Encoding.UTF8.GetBytes(body)).AsTask().GetAwaiter().GetResult();
    });

    /// <summary>The next answer: a status and the start of a body of <paramref name="length"/> bytes, sent at once (the rest never comes while a <see cref="HoldNext"/> holds).</summary>
    public void AnswerPartly(int status, string start, int length) => _script.Enqueue(response =>
    {
        response.StatusCode = status;
        response.ContentLength = length;
        response.Body.WriteAsync(System.Text.Encoding.UTF8.GetBytes(start)).AsTask().GetAwaiter().GetResult();
        response.Body.FlushAsync().GetAwaiter().GetResult();
    });

    /// <summary>The next request received; fails after <paramref name="within"/>.</summary>
    public async Task<ReceivedWebhook> NextAsync(TimeSpan? within = null)
    {
        using var cts = new CancellationTokenSource(within ?? TimeSpan.FromSeconds(20));
        try { return await _received.Reader.ReadAsync(cts.Token); }
        catch (OperationCanceledException) { throw new TimeoutException($"No webhook arrived within {within ?? TimeSpan.FromSeconds(20)}."); }
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
    }
}
