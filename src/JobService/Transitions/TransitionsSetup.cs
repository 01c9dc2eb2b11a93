using JobService.Data;
using JobService.Events;
using JobService.Hosting;
using Microsoft.Extensions.Options;

namespace JobService.Transitions;

public static class TransitionsSetup
{
    /// <summary>The transition seam, the provider's driver, and listen/notify on every node (API-only ones included).</summary>
    public static IServiceCollection AddJobTransitions(this IServiceCollection services)
    {
        services.AddOptions<EventsOptions>().BindConfiguration(EventsOptions.Section).RefuseUnknownKeys(EventsOptions.Section).ValidateDataAnnotations().ValidateOnStart();
        services.AddSingleton<InProcessNotifier>();
        services.AddSingleton<PostgresNotifier>();
        services.AddSingleton<IJobDriver>(sp => sp.GetRequiredService<IOptions<DatabaseOptions>>().Value.IsPostgres
            ? ActivatorUtilities.CreateInstance<PostgresDriver>(sp)
            : ActivatorUtilities.CreateInstance<SqliteDriver>(sp));
        services.AddSingleton<JobTransitions>();
        services.AddSingleton<Worker.PostgresListener>();
        services.AddSingleton<Events.EventHub>();
        services.AddSingleton<Events.JobEventReads>();
        services.AddSingleton<Events.StreamOutage>();
        services.AddHostedService<NotifierService>();
        return services;
    }

    /// <summary>Runs the driver's listening and sending loops for the life of the host.</summary>
    sealed class NotifierService(IJobDriver driver) : BackgroundService
    {
        protected override Task ExecuteAsync(CancellationToken stopping) => driver.Notifier.RunAsync(stopping);
    }
}
