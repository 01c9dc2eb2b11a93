using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace JobService.Llm;

/// <summary>
/// Turns a configuration section back into JSON (configuration flattens it to strings):
/// children keyed 0…n-1 are an array, "true"/"false" booleans, numbers numbers, the rest
/// strings. Lets appsettings.json hold JSON Schemas for declared job types.
/// </summary>
public static class ConfigJson
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
        if (value is "true" or "false") return JsonValue.Create(value == "true");
        if (double.TryParse(value, NumberStyles.Float, CultureInfo.InvariantCulture, out var n) && !value.StartsWith('+'))
            return JsonNode.Parse(value.Contains('.') || value.Contains('e') ? n.ToString("R", CultureInfo.InvariantCulture) : value);
        return JsonValue.Create(value);
    }

    /// <summary>Fills {field} from the payload (and {steps.name} from earlier steps); a string goes in as-is, anything else as JSON.</summary>
    public static string Fill(string template, IReadOnlyDictionary<string, JsonNode?> values)
    {
        var result = template;
        foreach (var (name, value) in values)
        {
            var text = value is JsonValue v && v.GetValueKind() == JsonValueKind.String ? v.GetValue<string>() : value?.ToJsonString() ?? "";
            result = result.Replace("{" + name + "}", text, StringComparison.Ordinal);
        }
        return result;
    }

    /// <summary>
    /// Fills a JSON template (an output schema): a quoted "{field}" becomes the field's JSON value
    /// (so "minItems": "{count}" becomes a number), and {field} inside a string is escaped text.
    /// </summary>
    public static string FillJson(string template, IReadOnlyDictionary<string, JsonNode?> values)
    {
        var result = template;
        foreach (var (name, value) in values)
        {
            result = result.Replace($"\"{{{name}}}\"", value?.ToJsonString() ?? "null", StringComparison.Ordinal);
            var text = value is JsonValue v && v.GetValueKind() == JsonValueKind.String ? v.GetValue<string>() : value?.ToJsonString() ?? "";
            result = result.Replace("{" + name + "}", JsonSerializer.Serialize(text)[1..^1], StringComparison.Ordinal);
        }
        return result;
    }

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
