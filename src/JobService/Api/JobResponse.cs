using System.Text.Json;
using JobService.Data;

namespace JobService.Api;

/// <summary>A job on the wire (snake_case; statuses lower case; progress 0–100).</summary>
public sealed record JobResponse(
    Guid Id,
    string Type,
    JobStatus Status,
    int Progress,
    string? Message,
    JsonElement Payload,
    JsonElement? Result,
    string? Error,
    int Priority,
    int Attempt,
    int MaxAttempts,
    DateTime RunAt,
    bool CancelRequested,
    string? CallbackUrl,
    DateTime CreatedAt,
    DateTime UpdatedAt,
    DateTime? StartedAt,
    DateTime? CompletedAt,
    UsageResponse? Usage)
{
    public static JobResponse From(Job j) => new(j.Id, j.Type, j.Status, j.Progress, j.Message, Parse(j.Payload)!.Value,
        Parse(j.Result), j.Error, j.Priority, j.Attempt, j.MaxAttempts, j.RunAt, j.CancelRequested, j.CallbackUrl,
        j.CreatedAt, j.UpdatedAt, j.StartedAt, j.CompletedAt,
        j.TotalTokens is null ? null : new UsageResponse(j.PromptTokens ?? 0, j.CompletionTokens ?? 0, j.TotalTokens.Value, j.CostUsd ?? 0));

    static JsonElement? Parse(string? json)
    {
        if (json is null) return null;
        using var document = JsonDocument.Parse(json);
        return document.RootElement.Clone();
    }
}

/// <summary>LLM usage of a job: tokens and cost in USD.</summary>
public sealed record UsageResponse(int PromptTokens, int CompletionTokens, int TotalTokens, double CostUsd);

public sealed record JobPage(IReadOnlyList<JobResponse> Items, int Total, int Limit, int Offset);

public sealed record JobLogResponse(long Seq, DateTime Time, string Level, string Message, int Attempt);

public sealed record JobLogPage(IReadOnlyList<JobLogResponse> Items, long? NextAfter);

public sealed record JobStatsResponse(IReadOnlyDictionary<string, int> ByStatus, IReadOnlyDictionary<string, TypeStats> ByType, int Total,
    UsageTotals Usage);

public sealed record TypeStats(int Total, IReadOnlyDictionary<string, int> ByStatus, UsageTotals Usage);

/// <summary>LLM usage summed over jobs: tokens and cost in USD.</summary>
public sealed record UsageTotals(long PromptTokens, long CompletionTokens, long TotalTokens, double CostUsd);

public sealed record JobTypeResponse(string Type, string? Description, int TimeoutSeconds, int MaxAttempts, int Concurrency,
    JsonElement PayloadSchema);
