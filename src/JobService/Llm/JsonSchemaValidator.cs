using System.Text.Json;
using System.Text.Json.Nodes;

namespace JobService.Llm;

/// <summary>
/// Validates JSON against the JSON Schema keywords the service's schemas use: type,
/// properties, required, additionalProperties (false), items, minItems, maxItems, enum,
/// minLength, maxLength, minimum, maximum. (JsonSchema.Net is not available here; this subset
/// is what model answers and declared payloads need.) Errors are keyed by JSON path.
/// </summary>
public static class JsonSchemaValidator
{
    public const int MaxItems = 1_000;
    public const int MaxLength = 100_000;
    static readonly string[] Types = ["object", "array", "string", "integer", "number", "boolean", "null"];

    public static Dictionary<string, string[]> Validate(JsonNode? value, JsonObject schema, string path = "$")
    {
        var errors = new Dictionary<string, List<string>>();
        try
        {
            Check(value, schema, path, errors);
        }
        catch (Exception e) when (e is InvalidOperationException or FormatException or ArgumentException)
        {
            // A keyword of the wrong form ("minItems": "2") or a duplicate key: say so, never throw.
            (errors.TryGetValue(path, out var l) ? l : errors[path] = []).Add($"could not be checked: {e.Message}");
        }
        return errors.ToDictionary(e => e.Key, e => e.Value.ToArray());
    }

    /// <summary>
    /// Checks a schema a client sent (structured_generation) before it is stored: keywords of
    /// the right form, known types, and sizes the offline provider and a model can produce.
    /// </summary>
    public static List<string> CheckSchema(JsonNode? schema, string path = "schema", int depth = 0)
    {
        var errors = new List<string>();
        if (schema is not JsonObject s) return [$"{path} must be a JSON object"];
        if (depth > 16) return [$"{path} nests too deeply"];
        if (s["type"] is { } type)
        {
            var names = type is JsonArray a ? a.Select(t => t is JsonValue v && v.TryGetValue<string>(out var n) ? n : null).ToList()
                : [type is JsonValue v && v.TryGetValue<string>(out var n) ? n : null];
            if (names.Any(n => n is null || !Types.Contains(n))) errors.Add($"{path}.type must be one of {string.Join(", ", Types)}");
        }
        foreach (var (keyword, limit) in new[] { ("minItems", MaxItems), ("maxItems", MaxItems), ("minLength", MaxLength), ("maxLength", MaxLength) })
            if (s[keyword] is { } n && !(n is JsonValue v && v.TryGetValue<double>(out var d) && d >= 0 && d <= limit && d == Math.Floor(d)))
                errors.Add($"{path}.{keyword} must be a whole number from 0 to {limit}");
        foreach (var keyword in new[] { "minimum", "maximum" })
            if (s[keyword] is { } n && !(n is JsonValue v && v.TryGetValue<double>(out _)))
                errors.Add($"{path}.{keyword} must be a number");
        if (s["required"] is { } r && !(r is JsonArray ra && ra.All(x => x is JsonValue v && v.TryGetValue<string>(out _))))
            errors.Add($"{path}.required must be an array of field names");
        if (s["enum"] is { } e && e is not JsonArray) errors.Add($"{path}.enum must be an array");
        if (s["items"] is { } items) errors.AddRange(CheckSchema(items, $"{path}.items", depth + 1));
        if (s["properties"] is { } properties)
        {
            if (properties is not JsonObject po) errors.Add($"{path}.properties must be an object");
            else foreach (var (name, p) in po) errors.AddRange(CheckSchema(p, $"{path}.properties.{name}", depth + 1));
        }
        return errors;
    }

    static void Check(JsonNode? value, JsonObject schema, string path, Dictionary<string, List<string>> errors)
    {
        void Add(string message) => (errors.TryGetValue(path, out var list) ? list : errors[path] = []).Add(message);

        if (schema["enum"] is JsonArray options && !options.Any(o => JsonNode.DeepEquals(o, value)))
            Add($"must be one of {options.ToJsonString()}");
        var types = schema["type"] switch
        {
            JsonValue v => [v.GetValue<string>()],
            JsonArray a => a.Select(t => t!.GetValue<string>()).ToArray(),
            _ => Array.Empty<string>(),
        };
        var actual = Kind(value);
        if (types.Length > 0 && !types.Any(t => t == actual || (t == "number" && actual == "integer")))
        {
            Add($"must be of type {string.Join(" or ", types)}, not {actual}");
            return;
        }
        switch (value)
        {
            case JsonObject obj:
                var properties = schema["properties"] as JsonObject;
                foreach (var required in (schema["required"] as JsonArray)?.Select(r => r!.GetValue<string>()) ?? [])
                    if (!obj.ContainsKey(required)) (errors.TryGetValue($"{path}.{required}", out var l) ? l : errors[$"{path}.{required}"] = []).Add("is required");
                foreach (var (name, child) in obj)
                {
                    if (properties?[name] is JsonObject childSchema) Check(child, childSchema, $"{path}.{name}", errors);
                    else if (schema["additionalProperties"] is JsonValue extra && !extra.GetValue<bool>())
                        (errors.TryGetValue($"{path}.{name}", out var l) ? l : errors[$"{path}.{name}"] = []).Add("is not a known field");
                }
                break;
            case JsonArray array:
                if (schema["minItems"] is JsonValue minItems && array.Count < minItems.GetValue<double>()) Add($"must have at least {minItems} items");
                if (schema["maxItems"] is JsonValue maxItems && array.Count > maxItems.GetValue<double>()) Add($"must have at most {maxItems} items");
                if (schema["items"] is JsonObject items)
                    for (var i = 0; i < array.Count; i++) Check(array[i], items, $"{path}[{i}]", errors);
                break;
            case JsonValue v when actual == "string":
                var s = v.GetValue<string>();
                if (schema["minLength"] is JsonValue minLength && s.Length < minLength.GetValue<double>()) Add($"must be at least {minLength} characters");
                if (schema["maxLength"] is JsonValue maxLength && s.Length > maxLength.GetValue<double>()) Add($"must be at most {maxLength} characters");
                break;
            case JsonValue v when actual is "number" or "integer":
                var n = v.GetValue<double>();
                if (schema["minimum"] is JsonValue minimum && n < minimum.GetValue<double>()) Add($"must be at least {minimum}");
                if (schema["maximum"] is JsonValue maximum && n > maximum.GetValue<double>()) Add($"must be at most {maximum}");
                break;
        }
    }

    static string Kind(JsonNode? value) => value switch
    {
        null => "null",
        JsonObject => "object",
        JsonArray => "array",
        JsonValue v => v.GetValueKind() switch
        {
            JsonValueKind.String => "string",
            JsonValueKind.True or JsonValueKind.False => "boolean",
            JsonValueKind.Number => v.ToJsonString().Contains('.') || v.ToJsonString().Contains('e') || v.ToJsonString().Contains('E') ? "number" : "integer",
            _ => "null",
        },
        _ => "null",
    };
}
