using System.ComponentModel.DataAnnotations;

namespace JobService.Llm;

/// <summary>
/// The <c>Llm</c> section: OpenAI-compatible providers, prices, the offline provider, and
/// the job types declared in configuration. With no provider configured, every LLM job is
/// answered by the offline provider.
/// </summary>
public sealed class LlmOptions : IValidatableObject
{
    public const string Section = "Llm";

    /// <summary>Named OpenAI-compatible endpoints (OpenAI, OpenRouter, Ollama, vLLM, LM Studio).</summary>
    public Dictionary<string, LlmProviderOptions> Providers { get; set; } = new();

    /// <summary>The provider a job uses when neither its type nor its payload names one.</summary>
    public string? DefaultProvider { get; set; }

    /// <summary>USD per million tokens, by model name.</summary>
    public Dictionary<string, ModelPrice> Prices { get; set; } = new();

    public OfflineOptions Offline { get; set; } = new();

    /// <summary>Retries of 429, 5xx and dropped connections within one attempt.</summary>
    [Range(1, 100)] public int MaxRetries { get; set; } = 4;

    /// <summary>First retry delay when the provider sends no Retry-After; doubles per retry, with jitter.</summary>
    [Range(0.001, 3_600)] public double RetryBaseSeconds { get; set; } = 1;

    /// <summary>
    /// The longest Retry-After a call waits out within the attempt. A provider that asks for longer
    /// (or still asks when the retries are used up) ends the attempt, and the job's retry is
    /// scheduled no sooner than it asked (at most a day).
    /// </summary>
    [Range(1, 3_600)] public int MaxRetryWaitSeconds { get; set; } = 60;

    /// <summary>
    /// Calls in a row to one provider, from any of this process's jobs, that got no answer (no
    /// connection, 408, 5xx, silence past its timeout) before its calls stop for a while and the jobs
    /// that would make them wait without spending an attempt (<see cref="ProviderBreaker"/>). 0: never.
    /// </summary>
    [Range(0, 1_000_000)] public int BreakerFailures { get; set; } = 10;

    /// <summary>How long a provider's calls stop once its breaker opens; twice as long after each probe that gets no answer, at most ten times this.</summary>
    [Range(0.1, 3_600)] public double BreakerOpenSeconds { get; set; } = 30;

    /// <summary>How often structured generation asks again with the validation errors.</summary>
    [Range(0, 20)] public int RepairAttempts { get; set; } = 2;

    /// <summary>Tokens expected when a request sets no max_tokens: the progress bar's 100 %.</summary>
    [Range(1, 10_000_000)] public int DefaultExpectedTokens { get; set; } = 400;

    public bool UsesOffline => Providers.Count == 0;

    /// <summary>What [Range] cannot reach: values inside the provider entries and the Offline section.</summary>
    public IEnumerable<ValidationResult> Validate(ValidationContext context)
    {
        foreach (var (name, p) in Providers)
        {
            if (!Uri.TryCreate(p.BaseUrl, UriKind.Absolute, out _))
                yield return new($"Llm:Providers:{name}:BaseUrl must be an absolute URL (for example https://api.openai.com/v1).");
            if (p.TimeoutSeconds <= 0) yield return new($"Llm:Providers:{name}:TimeoutSeconds must be positive.");
        }
        if (DefaultProvider is { } d && d != "offline" && !Providers.ContainsKey(d))
            yield return new($"Llm:DefaultProvider: {LlmClient.UnknownProvider(d, Providers.Keys)}"); // else every job without a provider would fail
        if (!(Offline.TokensPerSecond > 0)) yield return new("Llm:Offline:TokensPerSecond must be positive.");
        if (Offline.TextTokens < 1) yield return new("Llm:Offline:TextTokens must be at least 1.");
    }
}

public sealed class LlmProviderOptions
{
    /// <summary>The API base, e.g. https://api.openai.com/v1 or http://localhost:11434/v1.</summary>
    public string BaseUrl { get; set; } = "";

    /// <summary>From configuration or the environment (Llm__Providers__openai__ApiKey); never logged.</summary>
    public string? ApiKey { get; set; }

    public string? DefaultModel { get; set; }

    /// <summary>How long the provider may stay silent (no byte) before the request is retried.</summary>
    public int TimeoutSeconds { get; set; } = 600;
}

public sealed class ModelPrice
{
    public double InputPerMillion { get; set; }
    public double OutputPerMillion { get; set; }
}

public sealed class OfflineOptions
{
    /// <summary>How fast the offline provider "generates", so that a poller sees progress move.</summary>
    public double TokensPerSecond { get; set; } = 60;

    /// <summary>Length of an offline text answer, in tokens (words), when the request sets no max_tokens.</summary>
    public int TextTokens { get; set; } = 180;
}
