using JobService.Hosting;
using Microsoft.Extensions.Options;

namespace JobService.Worker;

public static class WorkerSetup
{
    /// <summary>The hosted workers, the lease rescuer and retention.</summary>
    public static IServiceCollection AddJobWorkers(this IServiceCollection services)
    {
        services.AddSingleton<JobWakeup>();
        services.AddSingleton<RunningJobs>();
        services.AddOptions<WorkerOptions>().BindConfiguration(WorkerOptions.Section).RefuseUnknownKeys(WorkerOptions.Section).ValidateDataAnnotations().ValidateOnStart();
        services.AddOptions<RetentionOptions>().BindConfiguration(RetentionOptions.Section).RefuseUnknownKeys(RetentionOptions.Section).ValidateDataAnnotations().ValidateOnStart();
        services.AddSingleton<CompletionBatcher>();
        services.AddSingleton<ProgressBatcher>();
        services.AddSingleton<JobRunner>();
        services.AddSingleton<PausedTypes>();
        services.AddHostedService(sp => sp.GetRequiredService<PausedTypes>());
        services.AddSingleton<WorkerHeartbeats>();
        services.AddSingleton<JobWorker>();
        services.AddHostedService(sp => sp.GetRequiredService<JobWorker>());
        services.AddSingleton<LeaseRescuer>();
        services.AddHostedService(sp => sp.GetRequiredService<LeaseRescuer>());
        services.AddSingleton<RetentionCleaner>();
        services.AddHostedService(sp => sp.GetRequiredService<RetentionCleaner>());

        // The host must wait longer than the workers' grace period, or it kills the hand-back.
        services.AddOptions<HostOptions>().Configure<IOptions<WorkerOptions>>((host, worker) =>
            host.ShutdownTimeout = TimeSpan.FromSeconds(worker.Value.ShutdownGraceSeconds + 15));
        return services;
    }
}
