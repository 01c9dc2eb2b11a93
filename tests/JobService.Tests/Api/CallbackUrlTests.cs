using System.Net;
using System.Net.Http.Json;
using JobService.Tests.Infrastructure;
using JobService.Webhooks;

namespace JobService.Tests.Api;

/// <summary>callback_url at submit: internal addresses are refused (the bad-input table) unless a LAN deployment allows them.</summary>
public sealed class CallbackUrlTests
{
    [Fact]
    public async Task InternalCallbacksAreAcceptedWhereWebhooksAllowPrivateNetworks()
    {
        await using var app = new WorkerApp(TestDatabase.Sqlite(),
            new() { ["Service:Role"] = "api", ["Webhooks:AllowPrivateNetworks"] = "true", ["Webhooks:AllowedPorts:0"] = "9000" });

        foreach (var url in new[] { "http://127.0.0.1:9000/hook", "http://localhost/hook", "http://10.1.2.3/hook" })
            Assert.Equal(HttpStatusCode.Created, (await app.Client.PostAsJsonAsync("/jobs", new { type = "echo", callback_url = url })).StatusCode);
    }

    /// <summary>Regression: an ftp:// URL was told "must be an absolute https URL" where http is taken too (the default).</summary>
    [Theory]
    [InlineData(true, "callback_url must be an absolute http(s) URL")]
    [InlineData(false, "callback_url must be an absolute https URL")]
    public void AWrongSchemeIsToldWhichSchemesAreTaken(bool allowHttp, string start) =>
        Assert.StartsWith(start, CallbackUrls.Problem("ftp://hooks.example.com/", new WebhooksOptions { AllowHttp = allowHttp }));

    [Theory]
    [InlineData("https://hooks.example.com/jobs", true)]
    [InlineData("http://8.8.8.8/hook", true)]
    [InlineData("http://[2606:4700::1111]/hook", true)]
    [InlineData("http://169.254.169.254/", false)]
    [InlineData("http://[::ffff:10.0.0.1]/", false)]
    [InlineData("http://[::127.0.0.1]/", false)]
    [InlineData("http://255.255.255.255/", false)]
    [InlineData("http://198.18.0.1/", false)]
    [InlineData("http://[2002:7f00:1::1]/", false)] // 6to4 of 127.0.0.1 (regression: passed)
    [InlineData("http://[2002:a9fe:a9fe::]/", false)] // 6to4 of the metadata service
    [InlineData("http://[2002:808:808::1]/", true)] // 6to4 of 8.8.8.8
    [InlineData("http://[2001:0:4136:e378:8000:63bf:80ff:fffe]/", false)] // Teredo: client 127.0.0.1 (inverted)
    [InlineData("http://[2001:0:a00:1:8000:63bf:f7f7:f7f7]/", false)] // Teredo: server 10.0.0.1
    [InlineData("http://[2001:0:4136:e378:8000:63bf:f7f7:fbfb]/", true)] // Teredo of public addresses (client 8.8.4.4)
    public void PublicAddressesPassAndInternalOnesDoNot(string url, bool allowed) =>
        Assert.Equal(allowed, CallbackUrls.Problem(url, new WebhooksOptions()) is null);

    [Theory]
    [InlineData("http://hooks.example.com/", false, null, false)] // Webhooks:AllowHttp off
    [InlineData("https://hooks.example.com/", false, null, true)]
    [InlineData("https://hooks.example.com/", true, ".example.com", true)]
    [InlineData("https://example.com.evil.net/", true, ".example.com", false)] // Webhooks:AllowedHosts
    [InlineData("https://api.partner.net/", true, "api.partner.net", true)]
    public void HttpAndHostsFollowTheirSettings(string url, bool allowHttp, string? allowedHost, bool allowed) =>
        Assert.Equal(allowed, CallbackUrls.Problem(url, new WebhooksOptions { AllowHttp = allowHttp, AllowedHosts = allowedHost is null ? [] : [allowedHost] }) is null);
}
