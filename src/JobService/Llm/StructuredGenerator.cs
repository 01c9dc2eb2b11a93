using System.Text.Json;
using System.Text.Json.Nodes;
using JobService.Handlers;

namespace JobService.Llm;

/// <summary>
/// Asks for JSON that validates against a schema. When the answer does not parse or validate,
/// asks again with the errors (up to <see cref="LlmOptions.RepairAttempts"/> times), then
/// fails the job, not retryable, with the errors.
/// </summary>
public sealed class StructuredGenerator(LlmClient llm, Microsoft.Extensions.Options.IOptions<LlmOptions> options)
{
    public sealed record Output(JsonNode Data, ChatResult Call, int Repairs);

    public async Task<Output> GenerateAsync(ChatRequest request, JsonObject schema, IJobContext job, ProgressSpan span)
    {
        // A schema no answer can meet (a declared type's, as filled from this payload) fails the job
        // before the model is asked, not after every repair; a client's was checked at submit.
        if (JsonSchemaValidator.CheckSchema(schema, "schema", clientLimits: false) is { Count: > 0 } problems)
            throw new NonRetryableJobException($"The output schema cannot be used (no answer could meet it, or it asks for what is not checked): {string.Join("; ", problems)}");
        // One system message: the instruction goes first, merged with any the job gave (ChatRequest.Normalized).
        var messages = new List<ChatMessageSpec>
        {
            new("system", "Answer with one JSON object and nothing else. It must validate against this JSON Schema:\n" + schema.ToJsonString()),
        };
        messages.AddRange(request.Messages);
        var repairs = options.Value.RepairAttempts;
        var firstEnd = repairs == 0 ? span.To : span.From + (span.To - span.From) * 0.9;
        for (var attempt = 0; ; attempt++)
        {
            var part = attempt == 0
                ? span with { To = firstEnd }
                : new ProgressSpan(firstEnd + (span.To - firstEnd) * (attempt - 1) / repairs, firstEnd + (span.To - firstEnd) * attempt / repairs, $"{span.Prefix}Repair {attempt}: ");
            var call = await llm.CompleteAsync(request with { Messages = messages.ToList(), JsonSchema = schema, Repair = attempt }, job, part);
            var (data, errors) = Check(call.Text, schema);
            if (data is not null) return new Output(data, call, attempt);
            if (attempt == repairs)
                throw new NonRetryableJobException($"The model's answer was not valid JSON for the schema after {repairs} repair(s): {errors}");
            await job.LogAsync(JobLogLevel.Warning, $"The answer did not validate ({errors}); asking the model to repair it");
            messages.Add(new ChatMessageSpec("assistant", call.Text));
            messages.Add(new ChatMessageSpec("user", $"That answer is not valid: {errors}. Answer again with only the corrected JSON object."));
        }
    }

    /// <summary>The parsed value if valid, else a one-line description of what is wrong.</summary>
    public static (JsonNode? Data, string Errors) Check(string answer, JsonObject schema)
    {
        JsonNode? data;
        try
        {
            data = JsonNode.Parse(StripFence(answer));
        }
        catch (JsonException e)
        {
            return (null, $"not JSON ({e.Message})");
        }
        var errors = JsonSchemaValidator.Validate(data, schema);
        return errors.Count == 0 && data is not null
            ? (data, "")
            : (null, string.Join("; ", errors.Select(e => $"{e.Key} {string.Join(", ", e.Value)}")));
    }

    /// <summary>Models often wrap JSON in a ```json fence; the fence is not part of the answer.</summary>
    static string StripFence(string text)
    {
        var t = text.Trim();
        if (!t.StartsWith("```", StringComparison.Ordinal)) return t;
        var start = t.IndexOf('\n');
        var end = t.LastIndexOf("```", StringComparison.Ordinal);
        return start > 0 && end > start ? t[(start + 1)..end] : t;
    }
}
