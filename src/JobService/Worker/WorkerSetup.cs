using JobService.Data;
using Microsoft.Extensions.Options;

namespace JobService.Worker;

public static class WorkerSetup
{
    /// <summary>What both roles need: the API signals workers, workers run jobs.</summary>
    public static IServiceCollection AddJobSignals(this IServiceCollection services)
    {
        services.AddSingleton<JobWakeup>();
        services.AddSingleton<RunningJobs>();
        services.AddSingleton<JobSignals>();
        return services;
    }

    /// <summary>The hosted workers, the lease rescuer, retention, and (on PostgreSQL) the listener.</summary>
    public static IServiceCollection AddJobWorkers(this IServiceCollection services, bool postgres)
    {
        services.AddOptions<WorkerOptions>().BindConfiguration(WorkerOptions.Section).ValidateDataAnnotations().ValidateOnStart();
        services.AddOptions<RetentionOptions>().BindConfiguration(RetentionOptions.Section).ValidateDataAnnotations().ValidateOnStart();
        services.AddSingleton<JobStore>();
        services.AddSingleton<IQueueDriver>(sp => sp.GetRequiredService<IOptions<DatabaseOptions>>().Value.IsPostgres
            ? ActivatorUtilities.CreateInstance<PostgresQueueDriver>(sp)
            : ActivatorUtilities.CreateInstance<SqliteQueueDriver>(sp));
        services.AddSingleton<CompletionBatcher>();
        services.AddSingleton<JobRunner>();
        services.AddSingleton<JobWorker>();
        services.AddHostedService(sp => sp.GetRequiredService<JobWorker>());
        services.AddSingleton<LeaseRescuer>();
        services.AddHostedService(sp => sp.GetRequiredService<LeaseRescuer>());
        services.AddSingleton<RetentionCleaner>();
        services.AddHostedService(sp => sp.GetRequiredService<RetentionCleaner>());
        if (postgres)
        {
            services.AddSingleton<PostgresListener>();
            services.AddHostedService(sp => sp.GetRequiredService<PostgresListener>());
        }

        // The host must wait longer than the workers' grace period, or it kills the hand-back.
        services.AddOptions<HostOptions>().Configure<IOptions<WorkerOptions>>((host, worker) =>
            host.ShutdownTimeout = TimeSpan.FromSeconds(worker.Value.ShutdownGraceSeconds + 15));
        return services;
    }
}
