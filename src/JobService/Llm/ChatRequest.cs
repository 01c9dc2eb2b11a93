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
    /// <summary>The pipeline step this call is, for usage, the log and the tokens expected.</summary>
    public string? Step { get; init; }
    /// <summary>Structured generation: 0 for the first answer, n for the n-th repair.</summary>
    public int Repair { get; init; }

    /// <summary>
    /// The messages as a model's chat template accepts them: one system message, first, with every
    /// system instruction merged into it. Real templates refuse a second system message (Mistral:
    /// "roles must alternate"; Gemma: no system role after the first).
    /// </summary>
    public IReadOnlyList<ChatMessageSpec> Normalized()
    {
        var system = Messages.Where(m => m.Role == "system").Select(m => m.Content).ToList();
        var rest = Messages.Where(m => m.Role != "system");
        return system.Count == 0 ? rest.ToList() : [new ChatMessageSpec("system", string.Join("\n\n", system)), .. rest];
    }
}

/// <summary>What one call produced: the text, how it finished, its usage and cost.</summary>
public sealed record ChatResult(string Text, string Provider, string Model, int PromptTokens, int CompletionTokens, double CostUsd)
{
    /// <summary>stop, length (cut off by max_tokens), … as the provider said.</summary>
    public string? FinishReason { get; init; }
    public bool Truncated => FinishReason == "length";
}

/// <summary>Where this call's progress sits on the job's 0–100 bar, and how its status line starts.</summary>
public sealed record ProgressSpan(double From, double To, string Prefix)
{
    public static readonly ProgressSpan Whole = new(0, 99, "");
}

/// <summary>A stream that ended without a finish reason (cut, or an error event the SDK does not surface): retried like a 5xx.</summary>
public sealed class BrokenStreamException(string message, Exception? inner = null) : Exception(message, inner);
