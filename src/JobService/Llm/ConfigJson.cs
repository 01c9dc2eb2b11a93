using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;

namespace JobService.Llm;

/// <summary>
/// Turns a configuration section back into JSON (configuration flattens it to strings):
/// children keyed 0…n-1 are an array, "true"/"false" in any case booleans, numbers numbers,
/// the rest strings (configuration keeps no JSON types: a string "true" becomes a boolean
/// too). Lets appsettings.json hold JSON Schemas for declared job types.
/// </summary>
public static partial class ConfigJson
{
    public static JsonObject? ToObject(IConfigurationSection section) =>
        section.Exists() ? JsonNode.Parse(ToNode(section)!.ToJsonString())!.AsObject() : null;

    static JsonNode? ToNode(IConfigurationSection section)
    {
        var children = section.GetChildren().ToList();
        if (children.Count == 0) return Scalar(section.Value);
        if (children.Select((c, i) => c.Key == i.ToString(CultureInfo.InvariantCulture)).All(x => x))
            return new JsonArray(children.Select(ToNode).ToArray());
        var obj = new JsonObject();
        foreach (var child in children) obj[child.Key] = ToNode(child);
        return obj;
    }

    static JsonNode? Scalar(string? value)
    {
        if (value is null) return null;
        // The JSON file provider stores a JSON boolean as "True"/"False" (bool.ToString), an
        // environment variable as the user wrote it: both are booleans here.
        if (value.Equals("true", StringComparison.OrdinalIgnoreCase)) return JsonValue.Create(true);
        if (value.Equals("false", StringComparison.OrdinalIgnoreCase)) return JsonValue.Create(false);
        // Only a JSON number literal is a number: "007", "NaN" or "1,5" stay strings.
        if (JsonNumber().IsMatch(value)) return JsonNode.Parse(value);
        return JsonValue.Create(value);
    }

    [GeneratedRegex(@"^-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?$")]
    private static partial Regex JsonNumber();

    /// <summary>
    /// Fills {field} from the payload (and {steps.name} from earlier steps) in one pass: a string
    /// goes in as-is, anything else as JSON, and text already filled in is never read again for
    /// placeholders. An unknown {name} stays as written.
    /// </summary>
    public static string Fill(string template, IReadOnlyDictionary<string, JsonNode?> values) =>
        Placeholder().Replace(template, m => values.TryGetValue(m.Groups["name"].Value, out var value) ? Text(value) : m.Value);

    /// <summary>
    /// Fills a JSON template (an output schema) in one pass: a quoted "{field}" becomes the field's
    /// JSON value (so "minItems": "{count}" becomes a number), and {field} inside a string is
    /// escaped text.
    /// </summary>
    public static string FillJson(string template, IReadOnlyDictionary<string, JsonNode?> values) =>
        QuotedOrBarePlaceholder().Replace(template, m =>
        {
            if (!values.TryGetValue(m.Groups["name"].Value, out var value)) return m.Value;
            return m.Value.StartsWith('"') ? value?.ToJsonString() ?? "null" : JsonSerializer.Serialize(Text(value))[1..^1];
        });

    /// <summary>
    /// A JSON template as far as it is known before it is filled: a member whose value is a whole
    /// "{field}", or an array holding one, is left out with its key, since the payload decides it
    /// (<c>"enum": ["{a}", "{b}"]</c> is not an empty enum).
    /// </summary>
    public static JsonNode WithoutWholePlaceholders(string template)
    {
        var node = JsonNode.Parse(template)!;
        Prune(node);
        return node;

        static bool Filled(JsonNode? n) => n is JsonValue v && v.GetValueKind() == JsonValueKind.String && WholePlaceholder().IsMatch(v.GetValue<string>())
            || n is JsonArray a && a.Any(Filled);
        static void Prune(JsonNode? n)
        {
            if (n is JsonObject o)
                foreach (var (key, value) in o.ToList())
                    if (Filled(value)) o.Remove(key); else Prune(value);
            else if (n is JsonArray a)
                foreach (var item in a) Prune(item);
        }
    }

    static string Text(JsonNode? value) =>
        value is JsonValue v && v.GetValueKind() == JsonValueKind.String ? v.GetValue<string>() : value?.ToJsonString() ?? "";

    [GeneratedRegex("""\{(?<name>[^{}"\s]+)\}""")]
    private static partial Regex Placeholder();

    [GeneratedRegex("""^\{[^{}"\s]+\}$""")]
    private static partial Regex WholePlaceholder();

    [GeneratedRegex(@"""\{(?<name>[^{}""\s]+)\}""|\{(?<name>[^{}""\s]+)\}")]
    private static partial Regex QuotedOrBarePlaceholder();

    /// <summary>The payload's fields, with the payload schema's defaults for the missing ones.</summary>
    public static Dictionary<string, JsonNode?> Fields(JsonElement payload, JsonObject? payloadSchema)
    {
        var fields = new Dictionary<string, JsonNode?>(StringComparer.Ordinal);
        if (payloadSchema?["properties"] is JsonObject properties)
            foreach (var (name, property) in properties)
                if (property?["default"] is { } d) fields[name] = d.DeepClone();
        if (payload.ValueKind == JsonValueKind.Object)
            foreach (var property in payload.EnumerateObject()) fields[property.Name] = JsonNode.Parse(property.Value.GetRawText());
        return fields;
    }
}
