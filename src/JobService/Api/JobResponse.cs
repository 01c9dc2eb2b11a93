using System.ComponentModel;
using System.Text.Json;
using System.Text.Json.Serialization;
using JobService.Data;

namespace JobService.Api;

/// <summary>A job on the wire (snake_case; statuses lower case; progress 0–100).</summary>
public sealed record JobResponse(
    Guid Id,
    string Type,
    string TenantId,
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
    IReadOnlyList<string>? CallbackEvents,
    DateTime CreatedAt,
    DateTime UpdatedAt,
    DateTime? StartedAt,
    DateTime? CompletedAt,
    UsageResponse? Usage)
{
    public static JobResponse From(Job j) => new(j.Id, j.Type, j.TenantId, j.Status, j.Progress, j.Message, Parse(j.Payload)!.Value,
        Parse(j.Result), j.Error, j.Priority, j.Attempt, j.MaxAttempts, j.RunAt, j.CancelRequested, j.CallbackUrl,
        j.CallbackUrl is null ? null : j.CallbackEvents?.Split(' ') ?? Webhooks.WebhookTypes.Terminal,
        j.CreatedAt, j.UpdatedAt, j.StartedAt, j.CompletedAt, UsageResponse.From(j));

    static JsonElement? Parse(string? json)
    {
        if (json is null) return null;
        using var document = JsonDocument.Parse(json);
        return document.RootElement.Clone();
    }
}

/// <summary>
/// LLM usage of a job: tokens and cost in USD summed over every attempt, and the latest
/// attempt's detail: the model and provider, whether a count is estimated (a cancelled or
/// broken stream reports no usage: its tokens were counted), how it finished, its repairs and
/// each model call (a pipeline's steps).
/// </summary>
public sealed record UsageResponse(int PromptTokens, int CompletionTokens, int TotalTokens, [property: JsonConverter(typeof(UsdJson))] double CostUsd,
    string? Model = null, string? Provider = null, bool Estimated = false, string? FinishReason = null, int Repairs = 0,
    IReadOnlyList<UsageStep>? Steps = null)
{
    public static UsageResponse? From(Job j)
    {
        if (j.TotalTokens is null && j.UsageDetail is null) return null;
        var detail = j.UsageDetail is null ? null : JsonSerializer.Deserialize<StoredDetail>(j.UsageDetail, JobJson.Options);
        return new UsageResponse(j.PromptTokens ?? 0, j.CompletionTokens ?? 0, j.TotalTokens ?? 0, j.CostUsd ?? 0,
            detail?.Model, detail?.Provider, detail?.Estimated ?? false, detail?.FinishReason, detail?.Repairs ?? 0, detail?.Steps);
    }

    /// <summary>The stored detail, as <see cref="Worker.UsageDetail"/> writes it.</summary>
    sealed record StoredDetail(string? Model = null, string? Provider = null, bool Estimated = false, string? FinishReason = null,
        int Repairs = 0, IReadOnlyList<UsageStep>? Steps = null);
}

/// <summary>One model call of the latest attempt.</summary>
public sealed record UsageStep(string? Step, string? Model, string? Provider, int PromptTokens, int CompletionTokens, [property: JsonConverter(typeof(UsdJson))] double CostUsd,
    bool Estimated, string? FinishReason, double? DurationMs);

public sealed record JobPage(IReadOnlyList<JobResponse> Items, int Total, int Limit, int Offset);

public sealed record JobLogResponse(long Seq, DateTime Time, string Level, string Message, int Attempt,
    [property: Description("The trace of the span that wrote the line (the attempt's process span, or the request's), when tracing is on.")] string? TraceId = null,
    [property: Description("The span that wrote the line, when tracing is on: with trace_id, a link into the trace.")] string? SpanId = null);

public sealed record JobLogPage(IReadOnlyList<JobLogResponse> Items, long? NextAfter);

public sealed record JobStatsResponse(IReadOnlyDictionary<string, int> ByStatus, IReadOnlyDictionary<string, TypeStats> ByType, int Total,
    UsageTotals Usage,
    [property: Description("With ?window=…&bucket=…: the window's time series (null otherwise).")] StatsTimeline? Timeline = null);

public sealed record TypeStats(int Total, IReadOnlyDictionary<string, int> ByStatus, UsageTotals Usage);

/// <summary>LLM usage summed over jobs: tokens and cost in USD.</summary>
public sealed record UsageTotals(long PromptTokens, long CompletionTokens, long TotalTokens, [property: JsonConverter(typeof(UsdJson))] double CostUsd);

/// <summary>A registered job type on the wire (GET /job-types).</summary>
public sealed record JobTypeResponse(
    [property: Description("The name to submit as a job's type.")] string Type,
    [property: Description("What the type does, for people.")] string? Description,
    [property: Description("Seconds one attempt may run before it is stopped and retried like a failure.")] int TimeoutSeconds,
    [property: Description("Attempts a job gets by default (a submit may set its own max_attempts).")] int MaxAttempts,
    [property: Description("Most jobs of this type one worker runs at once; 0 = no per-type limit beyond the worker's own slots (Worker:Concurrency).")] int Concurrency,
    [property: Description("The JSON Schema a job's payload must validate against; POST /jobs refuses (400) what it refuses.")] JsonElement PayloadSchema,
    [property: Description("Set while the type is paused: workers claim none of its jobs (POST /job-types/{type}/pause); null otherwise.")] JobTypePauseResponse? Paused = null);
