using System.Net;
using System.Text;

namespace JobService.Tests.Infrastructure;

/// <summary>One Server-Sent Event as a client reads it (a comment line is an event named ":" with the comment as data).</summary>
public sealed record SseEvent(string Event, string Data, string? Id);

/// <summary>
/// Reads a text/event-stream the way EventSource does (event, data, id, retry fields; comments;
/// a blank line dispatches), over a real HTTP response, and hands events out as they arrive.
/// </summary>
public sealed class SseClient : IAsyncDisposable
{
    readonly HttpResponseMessage _response;
    readonly StreamReader _reader;

    SseClient(HttpResponseMessage response, Stream body)
    {
        _response = response;
        _reader = new StreamReader(body, Encoding.UTF8);
    }

    public HttpStatusCode Status => _response.StatusCode;
    public HttpResponseMessage Response => _response;
    public int? RetryMs { get; private set; }

    public static async Task<SseClient> OpenAsync(HttpClient http, string path, string? lastEventId = null)
    {
        var request = new HttpRequestMessage(HttpMethod.Get, path);
        request.Headers.Accept.ParseAdd("text/event-stream");
        if (lastEventId is not null) request.Headers.Add("Last-Event-ID", lastEventId);
        var response = await http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead);
        return new SseClient(response, await response.Content.ReadAsStreamAsync());
    }

    /// <summary>The next event, or null when the server ended the stream. Fails after <paramref name="within"/>.</summary>
    public async Task<SseEvent?> NextAsync(TimeSpan? within = null, bool comments = false)
    {
        using var cts = new CancellationTokenSource(within ?? TimeSpan.FromSeconds(15));
        string? type = null, id = null;
        var data = new StringBuilder();
        while (true)
        {
            string? line;
            try { line = await _reader.ReadLineAsync(cts.Token); }
            catch (OperationCanceledException) { throw new TimeoutException($"No event within {within ?? TimeSpan.FromSeconds(15)}"); }
            if (line is null) return null;
            if (line.Length == 0)
            {
                if (data.Length > 0 || type is not null) return new SseEvent(type ?? "message", data.ToString().TrimEnd('\n'), id);
                continue;
            }
            if (line.StartsWith(':'))
            {
                if (comments) return new SseEvent(":", line[1..].Trim(), null);
                continue;
            }
            var colon = line.IndexOf(':');
            var (field, value) = colon < 0 ? (line, "") : (line[..colon], line[(colon + 1)..].TrimStart(' '));
            switch (field)
            {
                case "event": type = value; break;
                case "data": data.Append(value).Append('\n'); break;
                case "id": id = value; break;
                case "retry": RetryMs = int.Parse(value); break;
            }
        }
    }

    /// <summary>Every event until the server ends the stream.</summary>
    public async Task<List<SseEvent>> ToEndAsync(TimeSpan? within = null)
    {
        var all = new List<SseEvent>();
        while (await NextAsync(within) is { } e) all.Add(e);
        return all;
    }

    public ValueTask DisposeAsync()
    {
        _reader.Dispose();
        _response.Dispose();
        return ValueTask.CompletedTask;
    }
}
