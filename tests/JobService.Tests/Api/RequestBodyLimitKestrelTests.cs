using System.Net.Sockets;
using System.Text;
using JobService.Tests.Infrastructure;

namespace JobService.Tests.Api;

/// <summary>The body limit through Kestrel itself (the in-memory test server has no limit of its own to meet first).</summary>
public sealed class RequestBodyLimitKestrelTests
{
    /// <summary>Regression: a chunked body crossing Kestrel's limit mid-read was Kestrel's 413 ("max request body size is 1048577 bytes"), not ours.</summary>
    [Fact]
    public async Task AChunkedBodyOverTheLimitIsRefusedWithTheLimitAsConfigured()
    {
        await using var app = new WorkerApp(TestDatabase.Sqlite(), realClock: true, kestrel: true);
        var body = Encoding.UTF8.GetBytes($"{{\"type\": \"echo\", \"payload\": {{\"text\": \"{new string('x', 1_100_000)}\"}}}}");

        // As curl sends it: chunked, in chunks of 64 KiB, all written before the answer is read.
        using var tcp = new TcpClient();
        await tcp.ConnectAsync(app.BaseAddress.Host, app.BaseAddress.Port);
        var stream = tcp.GetStream();
        var request = new MemoryStream();
        request.Write(Encoding.ASCII.GetBytes($"POST /jobs HTTP/1.1\r\nHost: {app.BaseAddress.Authority}\r\nContent-Type: application/json\r\n" +
            "Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n"));
        foreach (var chunk in body.Chunk(64 * 1024))
        {
            request.Write(Encoding.ASCII.GetBytes($"{chunk.Length:X}\r\n"));
            request.Write(chunk);
            request.Write("\r\n"u8);
        }
        request.Write("0\r\n\r\n"u8);
        _ = stream.WriteAsync(request.ToArray()).AsTask().ContinueWith(_ => { }); // the server may answer and close before it has read it all
        var answer = await new StreamReader(stream).ReadToEndAsync();

        Assert.StartsWith("HTTP/1.1 413", answer);
        Assert.Contains("The request body is larger than the limit of 1048576 bytes (Api:MaxRequestBodyBytes).", answer);
    }
}
