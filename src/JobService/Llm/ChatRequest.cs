namespace JobService.Llm;

public sealed record ChatMessageSpec(string Role, string Content);

/// <summary>One chat-completion call, as the job types build it.</summary>
public sealed record ChatRequest(IReadOnlyList<ChatMessageSpec> Messages)
{
    public string? Provider { get; init; }
    public string? Model { get; init; }
    public int? MaxTokens { get; init; }
    public double? Temperature { get; init; }
    /// <summary>Ask for a JSON object (response_format json_object); the offline provider answers this schema.</summary>
    public System.Text.Json.Nodes.JsonObject? JsonSchema { get; init; }
}

/// <summary>What one call produced, with its usage and cost.</summary>
public sealed record ChatResult(string Text, string Provider, string Model, int PromptTokens, int CompletionTokens, double CostUsd);

/// <summary>Where this call's progress sits on the job's 0–100 bar, and how its status line starts.</summary>
public sealed record ProgressSpan(double From, double To, string Prefix)
{
    public static readonly ProgressSpan Whole = new(0, 99, "");
}
