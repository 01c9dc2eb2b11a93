using JobService.Hosting;
using JobService.Handlers;
using Microsoft.Extensions.Options;

namespace JobService.Llm;

public static class LlmSetup
{
    public const string HttpClientName = "llm";

    /// <summary>The LLM client, the built-in LLM job types, and the types declared in configuration.</summary>
    public static IServiceCollection AddLlmJobTypes(this IServiceCollection services, IConfiguration configuration)
    {
        services.AddOptions<LlmOptions>().BindConfiguration(LlmOptions.Section).RefuseUnknownKeys(LlmOptions.Section, "Types", "Pipelines").ValidateDataAnnotations().ValidateOnStart();
        services.AddSingleton<LlmClient>();
        services.AddSingleton<ExpectedTokens>();
        // The provider's HTTP client: no timeout and no retries of its own. The SDK times out silence, per
        // request; LlmClient retries (an HTTP-level retry here would multiply its retries and sit inside the SDK's timeout).
        services.AddHttpClient(HttpClientName).ConfigureHttpClient(c => c.Timeout = Timeout.InfiniteTimeSpan);
        services.AddSingleton<StructuredGenerator>();
        // Providers are configuration, the same on every node: a job naming one that is not configured is a 400 at
        // submit, as any other bad payload is, and a declared type naming one stops the start-up.
        var providers = configuration.GetSection($"{LlmOptions.Section}:Providers").GetChildren().Select(c => c.Key).Append("offline")
            .ToHashSet(StringComparer.Ordinal);
        services.AddJobType(KnownProvider(JobTypeDefinition.For(typeof(TextGenerationHandler)), providers));
        services.AddJobType(KnownProvider(JobTypeDefinition.For(typeof(StructuredGenerationHandler)), providers));
        foreach (var declared in DeclaredType.FromConfiguration(configuration))
        {
            if (declared.Provider is { } named && !providers.Contains(named))
                throw new Hosting.StartupRefusedException($"Declared LLM type '{declared.Name}': {LlmClient.UnknownProvider(named, providers)}");
            services.AddJobType(declared.ToDefinition());
        }
        return services;
    }

    static JobTypeDefinition KnownProvider(JobTypeDefinition type, IReadOnlySet<string> providers) => type with
    {
        ValidatePayload = payload =>
        {
            var errors = type.ValidatePayload(payload);
            if (errors.Count == 0 && payload.TryGetProperty("provider", out var named) && named.ValueKind == System.Text.Json.JsonValueKind.String
                && named.GetString() is { } name && !providers.Contains(name))
                return new Dictionary<string, string[]> { ["payload.provider"] = [LlmClient.UnknownProvider(name, providers)] };
            return errors;
        },
    };

    /// <summary>Says at start-up which provider answers LLM jobs; never logs keys.</summary>
    public static void LogLlmProviders(this IServiceProvider services)
    {
        var options = services.GetRequiredService<IOptions<LlmOptions>>().Value;
        var log = services.GetRequiredService<ILoggerFactory>().CreateLogger("JobService.Llm");
        if (options.UsesOffline)
            log.LogWarning("No LLM provider is configured (Llm:Providers): the offline provider answers every LLM job, " +
                           "deterministically, and each job's usage says \"model\": \"offline\". See docs/llm.md to configure one.");
        else
            foreach (var (name, p) in options.Providers)
                log.LogInformation("LLM provider {Provider}: {BaseUrl}, default model {Model}, API key {KeyState}",
                    name, p.BaseUrl, p.DefaultModel ?? "(none)", string.IsNullOrEmpty(p.ApiKey) ? "not set" : "set");
    }
}
