namespace JobService.Handlers;

/// <summary>
/// What one model call spent. <see cref="Estimated"/> is true when the provider sent no usage
/// (a cancelled or broken stream): the tokens were counted, not reported.
/// </summary>
public sealed record UsageRecord(int PromptTokens, int CompletionTokens, double CostUsd)
{
    public string? Model { get; init; }
    public string? Provider { get; init; }
    /// <summary>The pipeline step the call belongs to, if any.</summary>
    public string? Step { get; init; }
    public bool Estimated { get; init; }
    /// <summary>stop, length, … as the provider said; null when the call did not finish.</summary>
    public string? FinishReason { get; init; }
    public double? DurationMs { get; init; }
    public double? TimeToFirstTokenMs { get; init; }
    /// <summary>Structured generation: how many times the answer was sent back to be repaired.</summary>
    public int? Repairs { get; init; }

    public int TotalTokens => PromptTokens + CompletionTokens;
}
