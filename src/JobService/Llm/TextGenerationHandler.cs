using System.ComponentModel;
using System.ComponentModel.DataAnnotations;
using JobService.Handlers;

namespace JobService.Llm;

public sealed record ChatMessageInput(
    [property: Required, RegularExpression("^(system|user|assistant)$")] string Role,
    [property: Required, StringLength(200_000)] string Content);

public sealed record TextGenerationPayload(
    [property: Description("The prompt. Give this or messages."), StringLength(200_000)] string? Prompt = null,
    [property: Description("A whole conversation instead of a prompt.")] ChatMessageInput[]? Messages = null,
    [property: Description("A system prompt put first."), StringLength(50_000)] string? System = null,
    [property: Description("A model of the provider; default: the provider's."), StringLength(200, MinimumLength = 1)] string? Model = null,
    [property: Description("A configured provider name, or 'offline'.")] string? Provider = null,
    [property: Description("Most tokens to generate; also the progress bar's 100 %."), Range(1, 200_000)] int? MaxTokens = null,
    [property: Range(0.0, 2.0)] double? Temperature = null) : IValidatableObject
{
    public IEnumerable<ValidationResult> Validate(ValidationContext validationContext)
    {
        var conversation = Messages is { Length: > 0 };
        if (string.IsNullOrWhiteSpace(Prompt) && !conversation)
            yield return new ValidationResult("Give a prompt or messages.", [nameof(Prompt)]);
        // Both would send the prompt as a second user turn after the conversation's own: models' chat templates refuse that.
        if (Prompt is not null && conversation)
            yield return new ValidationResult("Give a prompt or messages, not both: put the prompt in messages as their last user turn.", [nameof(Prompt)]);
    }

    public ChatRequest ToRequest()
    {
        var messages = new List<ChatMessageSpec>();
        if (!string.IsNullOrWhiteSpace(System)) messages.Add(new("system", System));
        messages.AddRange((Messages ?? []).Select(m => new ChatMessageSpec(m.Role, m.Content)));
        if (!string.IsNullOrWhiteSpace(Prompt)) messages.Add(new("user", Prompt));
        return new ChatRequest(messages) { Model = Model, Provider = Provider, MaxTokens = MaxTokens, Temperature = Temperature };
    }
}

/// <summary>text_generation: a prompt (or messages) to text, streamed, with usage and cost.</summary>
[JobType("text_generation", Description = "A prompt or messages, with an optional system prompt, model, max_tokens and temperature, to text.",
    TimeoutSeconds = 900, MaxAttempts = 3)]
public sealed class TextGenerationHandler(LlmClient llm) : JobHandler<TextGenerationPayload>
{
    public override async Task<object?> ExecuteAsync(TextGenerationPayload payload, IJobContext context)
    {
        var call = await llm.CompleteAsync(payload.ToRequest(), context, ProgressSpan.Whole);
        return LlmResults.Text(call);
    }
}

public static class LlmResults
{
    /// <summary>A text answer: the text, how it finished, and whether max_tokens cut it off. The model and usage are in the job's usage.</summary>
    public static object Text(ChatResult call) => new { text = call.Text, finish_reason = call.FinishReason, truncated = call.Truncated };
}
