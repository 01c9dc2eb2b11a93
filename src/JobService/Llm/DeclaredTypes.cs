using System.Text.Json;
using System.Text.Json.Nodes;
using JobService.Handlers;

namespace JobService.Llm;

/// <summary>One step of a declared type or pipeline: a prompt template and, for JSON, an output schema.</summary>
public sealed record DeclaredStep(string Name, string Prompt, string? System, string? OutputSchemaTemplate, int? MaxTokens);

/// <summary>
/// A job type declared in configuration (<c>Llm:Types:{name}</c>, or <c>Llm:Pipelines:{name}</c>
/// with several steps): its payload schema validates submissions, its prompt templates are
/// filled from the payload (and, in a pipeline, from earlier steps as <c>{steps.name}</c>).
/// </summary>
public sealed record DeclaredType(
    string Name, string? Description, JsonObject PayloadSchema, IReadOnlyList<DeclaredStep> Steps,
    string? Model, string? Provider, double? Temperature, int TimeoutSeconds, int MaxAttempts)
{
    public static IEnumerable<DeclaredType> FromConfiguration(IConfiguration configuration)
    {
        foreach (var section in configuration.GetSection("Llm:Types").GetChildren())
        {
            Refuse(Hosting.KnownSettings.Unknown(section, [.. TypeKeys, .. StepKeys]));
            yield return Read(section, [Step(section, section.Key)]);
        }
        foreach (var section in configuration.GetSection("Llm:Pipelines").GetChildren())
        {
            Refuse(Hosting.KnownSettings.Unknown(section, [.. TypeKeys, "System", "MaxTokens", "Steps", "Prompt", "OutputSchema"]));
            foreach (var step in section.GetSection("Steps").GetChildren()) Refuse(Hosting.KnownSettings.Unknown(step, [.. StepKeys, "Name"]));
            // A pipeline's System and MaxTokens are every step's that sets none; a prompt or an output schema is a step's alone.
            if (section["Prompt"] is not null || section.GetSection("OutputSchema").Exists())
                throw new Hosting.StartupRefusedException($"{section.Path}: Prompt and OutputSchema belong to each of its Steps.");
            yield return Read(section, section.GetSection("Steps").GetChildren().Select(s => Step(s, s["Name"] ?? s.Key) with
            {
                System = s["System"] ?? section["System"], MaxTokens = s.GetValue<int?>("MaxTokens") ?? section.GetValue<int?>("MaxTokens"),
            }).ToList());
        }
    }

    /// <summary>What a declared type reads (<see cref="Read"/>), and what a step reads (<see cref="Step"/>); any other key is a typo.</summary>
    static readonly string[] TypeKeys = ["Description", "PayloadSchema", "Model", "Provider", "Temperature", "TimeoutSeconds", "MaxAttempts"],
        StepKeys = ["Prompt", "System", "OutputSchema", "MaxTokens"];

    static void Refuse(string? stray)
    {
        if (stray is not null) throw new Hosting.StartupRefusedException(stray);
    }

    static DeclaredType Read(IConfigurationSection s, IReadOnlyList<DeclaredStep> steps)
    {
        if (steps.Count == 0 || steps.Any(step => string.IsNullOrWhiteSpace(step.Prompt)))
            throw new Hosting.StartupRefusedException($"{s.Path}: every step needs a Prompt.");
        // A step's output is found by its name ({steps.NAME}, the result, what a retry takes as finished): two with one name would mix them.
        if (steps.GroupBy(step => step.Name).FirstOrDefault(g => g.Count() > 1) is { } twice)
            throw new Hosting.StartupRefusedException($"{s.Path}: two steps are named '{twice.Key}'; each step needs a name of its own.");
        var schema = ConfigJson.ToObject(s.GetSection("PayloadSchema")) ?? new JsonObject { ["type"] = "object" };
        // Checked here, not at each submit: a schema the validator cannot read would refuse every job of the type.
        if (JsonSchemaValidator.SchemaProblems(schema, "PayloadSchema", refuseUnchecked: true) is { Count: > 0 } problems)
            throw new Hosting.StartupRefusedException($"{s.Path}: {string.Join("; ", problems)}.");
        foreach (var step in steps.Where(step => step.OutputSchemaTemplate is not null))
            if (JsonSchemaValidator.CheckSchema(ConfigJson.WithoutWholePlaceholders(step.OutputSchemaTemplate!), $"{step.Name}'s OutputSchema",
                    clientLimits: false) is { Count: > 0 } outputProblems)
                throw new Hosting.StartupRefusedException($"{s.Path}: {string.Join("; ", outputProblems)}.");
        return new DeclaredType(s.Key, s["Description"], schema, steps, s["Model"], s["Provider"],
            s.GetValue<double?>("Temperature"), s.GetValue("TimeoutSeconds", 900), s.GetValue("MaxAttempts", 3));
    }

    static DeclaredStep Step(IConfigurationSection s, string name) =>
        new(name, s["Prompt"] ?? "", s["System"], ConfigJson.ToObject(s.GetSection("OutputSchema"))?.ToJsonString(), s.GetValue<int?>("MaxTokens"));

    // The schema passed SchemaProblems when the type was read from configuration, so it is read
    // for checking once, here; duplicate keys never reach the check: JobJson refuses them when the request is read.
    public JobTypeDefinition ToDefinition()
    {
        var schema = JsonSchemaValidator.Compile(PayloadSchema);
        return new(Name, Description, new Lazy<JsonObject>(PayloadSchema),
            payload => JsonSchemaValidator.ValidateChecked(payload, schema, "payload"),
            sp => new DeclaredTypeHandler(this, sp.GetRequiredService<LlmClient>(), sp.GetRequiredService<StructuredGenerator>()))
        {
            TimeoutSeconds = TimeoutSeconds,
            MaxAttempts = MaxAttempts,
        };
    }
}

/// <summary>
/// Runs a declared type: its steps in order, each step's output available to the next, progress
/// weighted by step. A pipeline keeps each finished step's output for a retry (<see cref="IJobContext.KeepAsync"/>),
/// which goes on from the first step not finished instead of asking the model again for the others.
/// </summary>
public sealed class DeclaredTypeHandler(DeclaredType type, LlmClient llm, StructuredGenerator structured) : IJobHandler
{
    public async Task<JsonNode?> ExecuteAsync(IJobContext context)
    {
        var fields = ConfigJson.Fields(context.Payload, type.PayloadSchema);
        var pipeline = type.Steps.Count > 1;
        var kept = pipeline && await context.KeptAsync() is JsonObject { } state ? state["steps"] as JsonObject : null;
        var outputs = new JsonObject();
        ChatResult? last = null;
        for (var i = 0; i < type.Steps.Count; i++)
        {
            var step = type.Steps[i];
            var label = pipeline ? $"Step {i + 1} of {type.Steps.Count}: {step.Name}. " : "";
            var span = new ProgressSpan(99.0 * i / type.Steps.Count, 99.0 * (i + 1) / type.Steps.Count, label);
            if (kept?[step.Name] is { } finished) // only while every step before it was finished too (see below)
            {
                outputs[step.Name] = finished.DeepClone();
                fields[$"steps.{step.Name}"] = finished.DeepClone();
                await context.LogAsync(JobLogLevel.Info, $"Step {i + 1} of {type.Steps.Count} ({step.Name}): finished by an earlier attempt, not asked again");
                await context.ReportProgressAsync(span.To, $"{label}Finished by an earlier attempt");
                continue;
            }
            kept = null; // a step asked again: what was kept after it came from another answer
            var messages = new List<ChatMessageSpec>();
            if (step.System is not null) messages.Add(new("system", ConfigJson.Fill(step.System, fields)));
            messages.Add(new("user", ConfigJson.Fill(step.Prompt, fields)));
            var request = new ChatRequest(messages)
            {
                Model = type.Model, Provider = type.Provider, Temperature = type.Temperature, MaxTokens = step.MaxTokens,
                Step = pipeline ? step.Name : null,
            };
            if (pipeline) await context.LogAsync(JobLogLevel.Info, $"Step {i + 1} of {type.Steps.Count}: {step.Name}");

            JsonNode output;
            if (step.OutputSchemaTemplate is { } template)
            {
                var schema = JsonNode.Parse(ConfigJson.FillJson(template, fields))!.AsObject();
                var result = await structured.GenerateAsync(request, schema, context, span);
                (output, last) = (result.Data, result.Call);
            }
            else
            {
                last = await llm.CompleteAsync(request, context, span);
                output = pipeline ? JsonValue.Create(last.Text)! : JsonSerializer.SerializeToNode(LlmResults.Text(last), JobJson.Options)!;
            }
            outputs[step.Name] = output;
            fields[$"steps.{step.Name}"] = output.DeepClone();
            var line = $"Step {i + 1} of {type.Steps.Count} ({step.Name}) done: {last.CompletionTokens} tokens";
            if (pipeline && i < type.Steps.Count - 1) await context.KeepAsync(new JsonObject { ["steps"] = outputs.DeepClone() }, $"{line}; kept for a retry");
            else if (pipeline) await context.LogAsync(JobLogLevel.Info, line);
        }
        // The answer itself: a pipeline's outputs by step name, or the one step's. Model, provider and
        // per-step usage are in the job's usage.
        return pipeline ? outputs : outputs[type.Steps[0].Name]!.DeepClone();
    }
}
