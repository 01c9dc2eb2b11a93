using System.Text.Json;
using JobService.Handlers;

namespace JobService.Worker;

/// <summary>
/// The latest attempt's LLM usage, stored with the job and served as its <c>usage</c> beside
/// the totals: the model and provider of the last call, whether any count is estimated, how
/// the last call finished, the repairs, and each call (a pipeline's steps).
/// </summary>
public static class UsageDetail
{
    public static string ToJson(IReadOnlyList<UsageRecord> calls)
    {
        var last = calls[^1];
        return JsonSerializer.Serialize(new
        {
            model = last.Model,
            provider = last.Provider,
            estimated = calls.Any(c => c.Estimated),
            finish_reason = last.FinishReason,
            repairs = calls.Sum(c => c.Repairs ?? 0),
            steps = calls.Select(c => new
            {
                step = c.Step, model = c.Model, provider = c.Provider, prompt_tokens = c.PromptTokens, completion_tokens = c.CompletionTokens,
                cost_usd = c.CostUsd, estimated = c.Estimated, finish_reason = c.FinishReason, duration_ms = c.DurationMs,
            }),
        }, JobJson.Options);
    }
}
