using JobService.Handlers;
using Microsoft.Extensions.Options;

namespace JobService.Llm;

public static class LlmSetup
{
    /// <summary>The LLM client, the built-in LLM job types, and the types declared in configuration.</summary>
    public static IServiceCollection AddLlmJobTypes(this IServiceCollection services, IConfiguration configuration)
    {
        services.AddOptions<LlmOptions>().BindConfiguration(LlmOptions.Section).ValidateDataAnnotations().ValidateOnStart();
        services.AddSingleton<LlmClient>();
        services.AddSingleton<StructuredGenerator>();
        services.AddJobHandler<TextGenerationHandler>();
        services.AddJobHandler<StructuredGenerationHandler>();
        foreach (var declared in DeclaredType.FromConfiguration(configuration)) services.AddJobType(declared.ToDefinition());
        return services;
    }

    /// <summary>Says at start-up which provider answers LLM jobs; never logs keys.</summary>
    public static void LogLlmProviders(this IServiceProvider services)
    {
        var options = services.GetRequiredService<IOptions<LlmOptions>>().Value;
        var log = services.GetRequiredService<ILoggerFactory>().CreateLogger("JobService.Llm");
        if (options.UsesOffline)
            log.LogWarning("No LLM provider is configured (Llm:Providers): the offline provider answers every LLM job, " +
                           "deterministically, and its results say \"model\": \"offline\". See docs/llm.md to configure one.");
        else
            foreach (var (name, p) in options.Providers)
                log.LogInformation("LLM provider {Provider}: {BaseUrl}, default model {Model}, API key {KeyState}",
                    name, p.BaseUrl, p.DefaultModel ?? "(none)", string.IsNullOrEmpty(p.ApiKey) ? "not set" : "set");
    }
}
