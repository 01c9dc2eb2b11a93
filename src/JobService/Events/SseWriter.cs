using System.Buffers;
using System.Net.ServerSentEvents;
using System.Text;
using Microsoft.AspNetCore.Http.Features;

namespace JobService.Events;

/// <summary>
/// Writes one Server-Sent Events response: events through .NET's <see cref="SseFormatter"/>,
/// and the <c>: ping</c> comments it cannot write (dotnet/aspnetcore#65103), each flushed at
/// once. Headers keep proxies from buffering or caching the stream.
/// </summary>
public sealed class SseWriter
{
    readonly HttpResponse _response;
    readonly CancellationToken _ct;

    public SseWriter(HttpContext http)
    {
        _response = http.Response;
        _ct = http.RequestAborted;
        _response.StatusCode = StatusCodes.Status200OK;
        _response.ContentType = "text/event-stream";
        _response.Headers.CacheControl = "no-cache";
        _response.Headers["X-Accel-Buffering"] = "no";
        http.Features.Get<IHttpResponseBodyFeature>()?.DisableBuffering();
        LastWrite = DateTime.UtcNow;
    }

    /// <summary>When the stream last carried anything (an event or a ping).</summary>
    public DateTime LastWrite { get; private set; }

    public async Task RetryAsync(TimeSpan interval)
    {
        await Write($"retry: {(long)interval.TotalMilliseconds}\n\n");
    }

    public async Task EventAsync(string type, string? id, string json)
    {
        await SseFormatter.WriteAsync(One(new SseItem<string>(json, type) { EventId = id }), _response.Body,
            (item, buffer) => buffer.Write(Encoding.UTF8.GetBytes(item.Data)), _ct);
        await _response.Body.FlushAsync(_ct);
        LastWrite = DateTime.UtcNow;
    }

    /// <summary>
    /// A ping if nothing went out for <paramref name="heartbeatSeconds"/>: asked after every wait,
    /// woken or not, since a stream can be woken again and again by changes it has nothing to send for.
    /// </summary>
    public Task PingIfQuietAsync(int heartbeatSeconds) =>
        DateTime.UtcNow >= PingDue(heartbeatSeconds) ? Write(": ping\n\n") : Task.CompletedTask;

    /// <summary>When a ping is due: <paramref name="heartbeatSeconds"/> after the last write (the streams' waits end there too).</summary>
    public DateTime PingDue(int heartbeatSeconds) => LastWrite.AddSeconds(heartbeatSeconds);

    async Task Write(string text)
    {
        await _response.Body.WriteAsync(Encoding.UTF8.GetBytes(text), _ct);
        await _response.Body.FlushAsync(_ct);
        LastWrite = DateTime.UtcNow;
    }

    static async IAsyncEnumerable<SseItem<string>> One(SseItem<string> item)
    {
        yield return item;
        await Task.CompletedTask;
    }
}
