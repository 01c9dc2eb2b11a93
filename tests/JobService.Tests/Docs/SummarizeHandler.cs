using System.ComponentModel;
using System.ComponentModel.DataAnnotations;
using JobService.Handlers;
using JobService.Llm;

namespace JobService.Tests.Docs;

// The complete example of docs/handlers.md, compiled and tested here.

/// <summary>The payload: validated at submit, published as JSON Schema by GET /job-types.</summary>
public sealed record SummarizePayload(
    [property: Required, StringLength(100_000, MinimumLength = 1), Description("The text to summarise.")] string Text,
    [property: Range(1, 10), Description("How many sentences.")] int Sentences = 2);

[JobType("summarize", Description = "Summarises a text in a few sentences.", TimeoutSeconds = 300, MaxAttempts = 3, Concurrency = 4)]
public sealed class SummarizeHandler(LlmClient llm) : JobHandler<SummarizePayload>
{
    public override async Task<object?> ExecuteAsync(SummarizePayload payload, IJobContext context)
    {
        await context.LogAsync(JobLogLevel.Info, $"Summarising {payload.Text.Length} characters");
        if (payload.Text.Length < 40)
            throw new NonRetryableJobException("The text is too short to summarise."); // fails at once, no retry

        // LlmClient streams: progress moves with the tokens, usage and cost land on the job,
        // 429/5xx are retried, and cancelling the job aborts the request.
        var call = await llm.CompleteAsync(
            new ChatRequest([new("system", "You write faithful summaries."), new("user", $"Summarise in {payload.Sentences} sentences:\n{payload.Text}")])
            { MaxTokens = 60 * payload.Sentences },
            context,
            ProgressSpan.Whole);
        return new { summary = call.Text.Trim(), model = call.Model };
    }
}
