using System.Net.Http.Json;
using System.Text.Json;
using JobService.Tests.Infrastructure;

namespace JobService.Tests.Webhooks;

/// <summary>The outbox across a SIGKILL: a delivery committed with its job's end is sent by the next process, once.</summary>
public sealed class WebhookOutboxProcessTests : IDisposable
{
    static readonly TimeSpan Within = TimeSpan.FromSeconds(60);
    readonly TempFolder _temp = new();

    public void Dispose() => _temp.Dispose();

    [Fact]
    public async Task ADeliveryCommittedBeforeAKillIsSentOnceAfterTheRestart()
    {
        await using var receiver = await WebhookReceiver.StartAsync();
        var path = _temp.NewDatabase("outbox");
        var environment = new Dictionary<string, string>
        {
            ["ConnectionStrings__Jobs"] = $"Data Source={path}",
            ["Webhooks__AllowPrivateNetworks"] = "true",
            ["Webhooks__AllowedPorts__0"] = receiver.Port.ToString(),
            // This process commits the job's end (and so the delivery) but sends nothing: the kill
            // below then falls after the commit and before any send, every time.
            ["Webhooks__DeliveryEnabled"] = "false",
        };
        Guid id;
        await using (var first = ServiceProcess.Start(environment))
        {
            await first.WaitUntilReadyAsync(Within);
            using var http = new HttpClient { BaseAddress = new Uri(first.BaseUrl) };
            var created = await http.PostAsJsonAsync("/jobs", new { type = "echo", payload = new { text = "hi" }, callback_url = receiver.Url });
            id = (await created.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("id").GetGuid();
            await Poll.UntilAsync(async () => (await http.GetFromJsonAsync<JsonElement>($"/jobs/{id}")).GetProperty("status").GetString() == "completed",
                "the job completed in the other process", Within);
            var deliveries = (await http.GetFromJsonAsync<JsonElement>($"/jobs/{id}/deliveries")).GetProperty("items");
            Assert.Equal("pending", Assert.Single(deliveries.EnumerateArray()).GetProperty("status").GetString());
            first.Kill(); // SIGKILL: no shutdown, nothing flushed
        }
        Assert.Empty(receiver.All);

        environment["Webhooks__DeliveryEnabled"] = "true";
        await using var second = ServiceProcess.Start(environment);
        var hook = await receiver.NextAsync(Within);

        Assert.Equal(id, JsonDocument.Parse(hook.Body).RootElement.GetProperty("data").GetProperty("job").GetProperty("id").GetGuid());
        using var client = new HttpClient { BaseAddress = new Uri(second.BaseUrl) };
        await Poll.UntilAsync(async () => (await client.GetFromJsonAsync<JsonElement>($"/jobs/{id}/deliveries")).GetProperty("items")[0]
            .GetProperty("status").GetString() == "succeeded", "the other process recorded the delivery", Within);
        Assert.Single(receiver.All); // once
    }

}
