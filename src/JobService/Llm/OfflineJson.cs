using System.Text.Json.Nodes;

namespace JobService.Llm;

/// <summary>Makes a JSON value that satisfies a JSON Schema (the subset <see cref="JsonSchemaValidator"/> checks).</summary>
public static class OfflineJson
{
    static readonly string[] Syllables = ["ka", "ren", "dor", "li", "mi", "tha", "vo", "el", "sar", "quin", "bro", "ys"];
    static readonly string[] Words = ["ancient", "restless", "gilded", "silent", "northern", "hidden", "broken", "radiant", "wandering", "sworn"];
    static readonly string[] Nouns = ["oath", "river", "crown", "forge", "library", "storm", "garden", "tower", "road", "market"];

    public static JsonNode For(JsonObject schema, Random random, string name = "")
    {
        if (schema["enum"] is JsonArray options && options.Count > 0) return options[random.Next(options.Count)]?.DeepClone()!; // null stays null
        return TypeOf(schema) switch
        {
            "object" => Object(schema, random),
            "array" => Array(schema, random, name),
            "integer" => JsonValue.Create((long)Math.Round(Number(schema, random)))!,
            "number" => JsonValue.Create(Math.Round(Number(schema, random), 2))!,
            "boolean" => JsonValue.Create(random.Next(2) == 0)!,
            "null" => null!,
            _ => JsonValue.Create(Text(schema, random, name))!,
        };
    }

    static JsonObject Object(JsonObject schema, Random random)
    {
        var result = new JsonObject();
        if (schema["properties"] is JsonObject properties)
            foreach (var (name, property) in properties)
                if (property is JsonObject p) result[name] = For(p, random, name);
        return result;
    }

    static JsonArray Array(JsonObject schema, Random random, string name)
    {
        var min = (int?)schema["minItems"]?.GetValue<double>() ?? 1;
        var max = (int?)schema["maxItems"]?.GetValue<double>() ?? Math.Max(min, 3);
        var count = Math.Min(Math.Clamp(3, min, Math.Max(min, max)), JsonSchemaValidator.MaxItems);
        var items = schema["items"] as JsonObject ?? new JsonObject { ["type"] = "string" };
        var array = new JsonArray();
        for (var i = 0; i < count; i++) array.Add(For(items, random, name));
        return array;
    }

    static double Number(JsonObject schema, Random random)
    {
        var min = schema["minimum"]?.GetValue<double>() ?? 0;
        var max = schema["maximum"]?.GetValue<double>() ?? min + 100;
        return min + random.NextDouble() * (max - min);
    }

    static string Text(JsonObject schema, Random random, string name)
    {
        var text = name.Contains("name", StringComparison.OrdinalIgnoreCase) || name.Contains("title", StringComparison.OrdinalIgnoreCase)
            ? Capital(Syllables[random.Next(Syllables.Length)] + Syllables[random.Next(Syllables.Length)]) + " " +
              Capital(Syllables[random.Next(Syllables.Length)] + Syllables[random.Next(Syllables.Length)] + Syllables[random.Next(Syllables.Length)])
            : $"The {Words[random.Next(Words.Length)]} {Nouns[random.Next(Nouns.Length)]}, bound to the {Words[random.Next(Words.Length)]} {Nouns[random.Next(Nouns.Length)]}.";
        var min = (int?)schema["minLength"]?.GetValue<double>() ?? 0;
        var max = (int?)schema["maxLength"]?.GetValue<double>() ?? int.MaxValue;
        var words = new System.Text.StringBuilder(text);
        while (words.Length < Math.Min(min, JsonSchemaValidator.MaxLength)) words.Append(' ').Append(Nouns[random.Next(Nouns.Length)]);
        text = words.ToString();
        return text.Length > max ? text[..max] : text;
    }

    static string Capital(string s) => char.ToUpperInvariant(s[0]) + s[1..];

    internal static string? TypeOf(JsonObject schema) => schema["type"] switch
    {
        JsonValue v => v.GetValue<string>(),
        JsonArray a => a.Select(t => t?.GetValue<string>()).FirstOrDefault(t => t != "null"),
        _ => schema["properties"] is not null ? "object" : null,
    };
}
