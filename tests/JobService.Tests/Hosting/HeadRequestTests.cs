using System.Net.Http.Json;
using System.Net.Sockets;
using System.Text;
using JobService.Tests.Infrastructure;

namespace JobService.Tests.Hosting;

/// <summary>
/// HEAD as an uptime monitor sends it, over a real socket to the real server: the GET's status and
/// headers, no body, and the connection free for the next request (a stream included).
/// </summary>
public sealed class HeadRequestTests : IDisposable
{
    static readonly TimeSpan Within = TimeSpan.FromSeconds(60);
    readonly TempFolder _temp = new();

    public void Dispose() => _temp.Dispose();

    /// <summary>Regression: minimal APIs route GET alone, so HEAD /health/ready and HEAD /jobs/{id} were 405s.</summary>
    [Fact]
    public async Task HeadIsAnsweredAsItsGetWithoutABody()
    {
        var path = _temp.NewDatabase("head");
        await using var service = ServiceProcess.Start(new Dictionary<string, string> { ["ConnectionStrings__Jobs"] = $"Data Source={path}" });
        await service.WaitUntilReadyAsync(Within);
        using var http = new HttpClient { BaseAddress = new Uri(service.BaseUrl) };
        var created = await http.PostAsJsonAsync("/jobs", new { type = "echo", payload = new { text = "hi" }, run_at = DateTime.UtcNow.AddDays(1) }); // its stream stays open
        var id = (await created.Content.ReadFromJsonAsync<System.Text.Json.JsonElement>()).GetProperty("id").GetString();

        // Pipelined on one connection: a body after a HEAD's headers, or a stream held open, would show in what follows.
        var answer = await ExchangeAsync(service.Port,
            $"HEAD /jobs/{id} HTTP/1.1\r\nHost: x\r\n\r\n" +
            $"HEAD /jobs/{id}/events HTTP/1.1\r\nHost: x\r\n\r\n" +
            "HEAD /events HTTP/1.1\r\nHost: x\r\n\r\n" +
            "HEAD /health/ready HTTP/1.1\r\nHost: x\r\n\r\n" +
            "HEAD /job-types/echo/pause HTTP/1.1\r\nHost: x\r\n\r\n" +
            "GET /health/live HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");

        var responses = answer.Split("HTTP/1.1 ", StringSplitOptions.RemoveEmptyEntries);
        Assert.True(responses.Length == 6, answer);
        Assert.StartsWith("200", responses[0]);
        Assert.Contains("Content-Type: application/json", responses[0]);
        Assert.EndsWith("\r\n\r\n", responses[0]); // headers, then the next response at once
        Assert.StartsWith("200", responses[1]);
        Assert.Contains("Content-Type: text/event-stream", responses[1]);
        Assert.EndsWith("\r\n\r\n", responses[1]);
        Assert.StartsWith("200", responses[2]);
        Assert.Contains("Content-Type: text/event-stream", responses[2]);
        Assert.StartsWith("200", responses[3]);
        Assert.EndsWith("\r\n\r\n", responses[3]);
        Assert.True(responses[4].StartsWith("405"), responses[4]); // POST alone there
        Assert.StartsWith("200", responses[5]);
        await service.WaitForOutputAsync($"HTTP HEAD /jobs/{id} responded 200", Within); // the log says what was asked
    }

    static async Task<string> ExchangeAsync(int port, string requests)
    {
        using var client = new TcpClient();
        await client.ConnectAsync("127.0.0.1", port);
        using var timeout = new CancellationTokenSource(Within);
        var stream = client.GetStream();
        await stream.WriteAsync(Encoding.ASCII.GetBytes(requests), timeout.Token);
        using var read = new MemoryStream();
        await stream.CopyToAsync(read, timeout.Token); // until the server closes after the last request
        return Encoding.UTF8.GetString(read.ToArray());
    }

    /// <summary>Regression: a 405's Allow header left HEAD out where it listed GET, though HEAD is answered.</summary>
    [Theory]
    [InlineData("/jobs/0193a5f0-0000-7000-8000-000000000001", "DELETE, GET, HEAD")]
    [InlineData("/health/live", "GET, HEAD")]
    [InlineData("/jobs/0193a5f0-0000-7000-8000-000000000001/cancel", "POST")]
    public async Task A405sAllowListsHeadBesideGet(string path, string allowed)
    {
        await using var app = new WorkerApp(TestDatabase.Sqlite());

        var response = await app.Client.SendAsync(new HttpRequestMessage(HttpMethod.Put, path) { Content = new StringContent("{}", Encoding.UTF8, "application/json") });

        Assert.Equal(System.Net.HttpStatusCode.MethodNotAllowed, response.StatusCode);
        Assert.Equal(allowed.Split(", "), response.Content.Headers.Allow.Order(StringComparer.Ordinal));
    }
}
