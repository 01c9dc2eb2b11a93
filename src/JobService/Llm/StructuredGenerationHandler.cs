using System.ComponentModel;
using System.ComponentModel.DataAnnotations;
using System.Text.Json.Nodes;
using JobService.Handlers;

namespace JobService.Llm;

public sealed record StructuredGenerationPayload(
    [property: Required, Description("What to generate."), StringLength(200_000)] string Instructions,
    [property: Required, Description("The JSON Schema the answer must validate against.")] JsonObject Schema,
    [property: StringLength(50_000)] string? System = null,
    string? Model = null,
    string? Provider = null,
    [property: Range(1, 200_000)] int? MaxTokens = null,
    [property: Range(0.0, 2.0)] double? Temperature = null) : IValidatableObject
{
    public IEnumerable<ValidationResult> Validate(ValidationContext validationContext) =>
        JsonSchemaValidator.CheckSchema(Schema).Select(e => new ValidationResult(e, [nameof(Schema)]));
}

/// <summary>structured_generation: instructions plus a JSON Schema to JSON that validates, with repairs.</summary>
[JobType("structured_generation", Description = "Instructions plus a JSON Schema to JSON that validates against it; invalid answers are repaired.",
    TimeoutSeconds = 900, MaxAttempts = 3)]
public sealed class StructuredGenerationHandler(StructuredGenerator generator) : JobHandler<StructuredGenerationPayload>
{
    public override async Task<object?> ExecuteAsync(StructuredGenerationPayload p, IJobContext context)
    {
        var messages = new List<ChatMessageSpec>();
        if (!string.IsNullOrWhiteSpace(p.System)) messages.Add(new("system", p.System));
        messages.Add(new("user", p.Instructions));
        var output = await generator.GenerateAsync(
            new ChatRequest(messages) { Model = p.Model, Provider = p.Provider, MaxTokens = p.MaxTokens, Temperature = p.Temperature },
            p.Schema, context, ProgressSpan.Whole);
        return output.Data; // the answer itself; the model, provider and repairs are in the job's usage
    }
}
