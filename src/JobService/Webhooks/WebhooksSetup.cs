using JobService.Hosting;
using JobService.Transitions;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;

namespace JobService.Webhooks;

public static class WebhooksSetup
{
    /// <summary>The outbox hook on every node (the API's cancels call for webhooks too); the dispatcher where workers run.</summary>
    public static IServiceCollection AddJobServiceWebhooks(this IServiceCollection services, bool runsWorkers)
    {
        services.AddOptions<WebhooksOptions>().BindConfiguration(WebhooksOptions.Section).RefuseUnknownKeys(WebhooksOptions.Section).PostConfigure<IConfiguration>(WebhooksOptions.ReadLists)
            .ValidateDataAnnotations()
            .Validate(o => { try { o.Schedule(); return true; } catch (FormatException) { return false; } },
                "Webhooks:RetrySchedule must be waits like 0s,5s,5m,30m,2h (seconds, minutes, hours), separated by commas.")
            .ValidateOnStart();
        services.AddSingleton<WebhookSignal>();
        services.AddSingleton<WebhookSecrets>();
        services.AddSingleton<WebhookStore>();
        services.AddSingleton<WebhookSender>();
        services.TryAddSingleton<IHostResolver, DnsResolver>();
        services.AddSingleton<IJobTransitionHook, WebhookOutbox>();
        services.AddHttpClient(WebhookSender.ClientName)
            .ConfigurePrimaryHttpMessageHandler(sp => WebhookSender.Handler(sp.GetRequiredService<IHostResolver>(),
                sp.GetRequiredService<IOptions<WebhooksOptions>>().Value));
        if (runsWorkers) services.AddHostedService<WebhookDispatcher>();
        return services;
    }
}
