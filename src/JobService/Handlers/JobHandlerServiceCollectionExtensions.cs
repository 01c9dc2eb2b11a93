namespace JobService.Handlers;

public static class JobHandlerServiceCollectionExtensions
{
    /// <summary>Registers a C# handler; its <see cref="JobTypeAttribute"/> names the type.</summary>
    public static IServiceCollection AddJobHandler<THandler>(this IServiceCollection services)
        where THandler : IJobHandler
        => services.AddJobType(JobTypeDefinition.For(typeof(THandler)));

    /// <summary>Registers a type built some other way (for example, declared in configuration).</summary>
    public static IServiceCollection AddJobType(this IServiceCollection services, JobTypeDefinition definition)
    {
        services.AddSingleton(definition);
        return services;
    }
}
