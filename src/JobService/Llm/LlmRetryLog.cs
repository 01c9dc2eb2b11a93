using JobService.Handlers;
using Microsoft.Extensions.Http.Resilience;
using Polly;
using Polly.Retry;

namespace JobService.Llm;

/// <summary>
/// Tells the job's log about each retry the HTTP client's resilience handler makes. The handler
/// sits below the OpenAI SDK, so the job reaches it through an async-local set by
/// <see cref="LlmClient"/> around the call.
/// </summary>
public static class LlmRetryLog
{
    public static readonly AsyncLocal<IJobContext?> Job = new();

    public static async ValueTask OnRetryAsync(OnRetryArguments<HttpResponseMessage> args)
    {
        if (Job.Value is not { } job) return;
        var why = args.Outcome.Result is { } response
            ? $"The provider answered HTTP {(int)response.StatusCode}"
            : $"The request failed ({args.Outcome.Exception?.Message})";
        await job.LogAsync(JobLogLevel.Warning, $"{why}; retry {args.AttemptNumber + 1} in {args.RetryDelay.TotalSeconds:0.##} s");
    }
}
