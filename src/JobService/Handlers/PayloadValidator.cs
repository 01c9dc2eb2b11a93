using System.ComponentModel.DataAnnotations;
using System.Text.Json;
using System.Text.Json.Nodes;
using JobService.Llm;

namespace JobService.Handlers;

/// <summary>
/// Validates a submitted payload against its record: first the shape (JSON types, required
/// and unknown fields), then the record's validation attributes, last the JSON Schema that
/// <c>GET /job-types</c> publishes for it. Errors are keyed by the snake_case field path under
/// <c>payload</c>, as a client wrote it.
/// </summary>
public static class PayloadValidator
{
    public static IDictionary<string, string[]> Validate<TPayload>(JsonElement payload) where TPayload : class
    {
        if (payload.ValueKind != JsonValueKind.Object)
            return Error("payload", "The payload must be a JSON object.");
        // Named per field here, since the deserializer reports missing fields all at once.
        var missing = Schema<TPayload>.Compiled.Required.Where(name => !payload.TryGetProperty(name, out _)).ToList();
        if (missing.Count > 0)
            return missing.ToDictionary(name => "payload." + name, _ => new[] { "The field is required." });
        TPayload? value;
        try
        {
            value = payload.Deserialize<TPayload>(JobJson.Options);
        }
        catch (JsonException e)
        {
            // The published schema says it in JSON's terms ("must be of type string"); the deserializer's words are the fallback.
            var schemaErrors = JsonSchemaValidator.ValidateChecked(payload, Schema<TPayload>.Compiled, "payload");
            return schemaErrors.Count > 0 ? schemaErrors : Error(FieldOf(e.Path), JsonText.Readable(e));
        }
        if (value is null) return Error("payload", "The payload must be a JSON object.");

        var errors = new List<(string Field, string Message)>();
        ValidateDeep(value, "payload", errors, depth: 0);
        if (errors.Count > 0) return errors.GroupBy(e => e.Field).ToDictionary(g => g.Key, g => g.Select(e => e.Message).ToArray());
        // What the record lets through and the published schema does not (a null inside an
        // array, a digit outside 0-9 for an ECMA pattern's \d) is refused too: a client that
        // validates against the published schema is not surprised by what runs (a length beyond
        // the Basic Multilingual Plane aside: DataAnnotations count UTF-16 units, the schema characters; docs/handlers.md).
        return JsonSchemaValidator.ValidateChecked(payload, Schema<TPayload>.Compiled, "payload");
    }

    /// <summary>
    /// DataAnnotations checks one object only; records inside the payload (a list of messages)
    /// are checked too, with their path: <c>payload.messages[1].role</c>.
    /// </summary>
    static void ValidateDeep(object value, string path, List<(string, string)> errors, int depth)
    {
        var shape = Shape.Of(value.GetType());
        if (shape.HasRules)
        {
            var results = new List<ValidationResult>();
            Validator.TryValidateObject(value, new ValidationContext(value), results, validateAllProperties: true);
            foreach (var r in results)
                foreach (var member in r.MemberNames.DefaultIfEmpty(""))
                {
                    var field = JsonNamingPolicy.SnakeCaseLower.ConvertName(member);
                    // The message names the C# property ("The field MaxTokens must be…"); the client sent max_tokens.
                    var message = member.Length == 0 ? r.ErrorMessage : r.ErrorMessage?.Replace($" {member} ", $" {field} ", StringComparison.Ordinal);
                    // AllowedValues names itself, not the values: say them, as the published enum does.
                    if (message?.Contains(nameof(AllowedValuesAttribute), StringComparison.Ordinal) == true
                        && value.GetType().GetProperty(member)?.GetCustomAttributes(typeof(AllowedValuesAttribute), true) is [AllowedValuesAttribute allowed, ..])
                        message = $"The {field} field must be one of: {string.Join(", ", allowed.Values.Select(v => JsonSerializer.Serialize(v, JobJson.Options)))}.";
                    errors.Add((member.Length == 0 ? path : $"{path}.{field}", message ?? "Invalid value."));
                }
        }
        if (depth >= 8) return;
        foreach (var (property, snakeName) in shape.Properties)
        {
            var name = $"{path}.{snakeName}";
            switch (property.GetValue(value))
            {
                case System.Collections.IEnumerable items and not string:
                    var i = 0;
                    foreach (var item in items)
                    {
                        if (item is not null && IsRecord(item.GetType())) ValidateDeep(item, $"{name}[{i}]", errors, depth + 1);
                        i++;
                    }
                    break;
                case { } child when IsRecord(child.GetType()):
                    ValidateDeep(child, name, errors, depth + 1);
                    break;
            }
        }
    }

    /// <summary>
    /// What <see cref="ValidateDeep"/> needs of a type, read once per type rather than per payload:
    /// its readable properties with their JSON names, and whether DataAnnotations has anything to
    /// check (a validation attribute on it or its properties, as <see cref="Validator"/> reads them
    /// through TypeDescriptor, or IValidatableObject): most payload records have nothing, and then
    /// the validator, which is reflection, is not called at all.
    /// </summary>
    sealed record Shape(bool HasRules, (System.Reflection.PropertyInfo Property, string SnakeName)[] Properties)
    {
        static readonly System.Collections.Concurrent.ConcurrentDictionary<Type, Shape> Known = new();

        public static Shape Of(Type type) => Known.GetOrAdd(type, t => new Shape(
            typeof(IValidatableObject).IsAssignableFrom(t)
                || System.ComponentModel.TypeDescriptor.GetAttributes(t).OfType<ValidationAttribute>().Any()
                || System.ComponentModel.TypeDescriptor.GetProperties(t).Cast<System.ComponentModel.PropertyDescriptor>()
                    .Any(p => p.Attributes.OfType<ValidationAttribute>().Any()),
            t.GetProperties(System.Reflection.BindingFlags.Public | System.Reflection.BindingFlags.Instance)
                .Where(p => p.GetIndexParameters().Length == 0)
                .Select(p => (p, JsonNamingPolicy.SnakeCaseLower.ConvertName(p.Name))).ToArray()));
    }

    /// <summary>A payload's own types, not .NET's (strings, JSON nodes, collections).</summary>
    static bool IsRecord(Type t) => t.IsClass && !t.IsArray && t != typeof(string) && !(t.Namespace ?? "").StartsWith("System", StringComparison.Ordinal);

    static class Schema<TPayload>
    {
        public static readonly JsonObject Published = PayloadSchema.For<TPayload>();

        /// <summary>The published schema read once for checking (PayloadSchema.For checked its form).</summary>
        public static readonly JsonSchemaValidator.CompiledSchema Compiled = JsonSchemaValidator.Compile(Published);
    }

    static Dictionary<string, string[]> Error(string field, string message) => new() { [field] = [message] };

    /// <summary>"$.max_tokens" or "MaxTokens" becomes "payload.max_tokens".</summary>
    static string FieldOf(string? path)
    {
        if (string.IsNullOrEmpty(path) || path == "$") return "payload";
        var trimmed = path.StartsWith("$.", StringComparison.Ordinal) ? path[2..] : path;
        if (!path.StartsWith('$')) trimmed = JsonNamingPolicy.SnakeCaseLower.ConvertName(trimmed);
        return "payload." + trimmed;
    }
}
