namespace JobService.Llm;

/// <summary>
/// The <c>Llm</c> section: OpenAI-compatible providers, prices, the offline provider, and
/// the job types declared in configuration. With no provider configured, every LLM job is
/// answered by the offline provider.
/// </summary>
public sealed class LlmOptions
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
    public int MaxRetries { get; set; } = 4;

    /// <summary>First retry delay when the provider sends no Retry-After; doubles per retry, with jitter.</summary>
    public double RetryBaseSeconds { get; set; } = 1;

    /// <summary>How often structured generation asks again with the validation errors.</summary>
    public int RepairAttempts { get; set; } = 2;

    /// <summary>Tokens expected when a request sets no max_tokens: the progress bar's 100 %.</summary>
    public int DefaultExpectedTokens { get; set; } = 400;

    public bool UsesOffline => Providers.Count == 0;
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
