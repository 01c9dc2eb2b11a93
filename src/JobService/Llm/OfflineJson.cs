using System.Text.Json.Nodes;

namespace JobService.Llm;

/// <summary>Makes a JSON value that satisfies a JSON Schema (the subset <see cref="JsonSchemaValidator"/> checks).</summary>
public static class OfflineJson
{
    static readonly string[] Syllables = ["ka", "ren", "dor", "li", "mi", "tha", "vo", "el", "sar", "quin", "bro", "ys"];
    static readonly string[] Words = ["ancient", "restless", "gilded", "silent", "northern", "hidden", "broken", "radiant", "wandering", "sworn"];
    static readonly string[] Nouns = ["oath", "river", "crown", "forge", "library", "storm", "garden", "tower", "road", "market"];

    /// <summary>The answer to a JSON-mode request: one object, as a model gives (the schema allows one: JsonSchemaValidator.CheckSchema).</summary>
    public static JsonObject Answer(JsonObject schema, Random random)
    {
        schema = WithAllOf(schema);
        return schema["enum"] is JsonArray options && options.OfType<JsonObject>().ToList() is { Count: > 0 } objects
            ? objects[random.Next(objects.Count)].DeepClone().AsObject()
            : Object(schema, random);
    }

    public static JsonNode For(JsonObject schema, Random random, string name = "")
    {
        schema = WithAllOf(schema);
        if (schema["enum"] is JsonArray options && options.Count > 0) return options[random.Next(options.Count)]?.DeepClone()!; // null stays null
        return TypeOf(schema) switch
        {
            "object" => Object(schema, random),
            "array" => Array(schema, random, name),
            "integer" => JsonValue.Create((long)Number(schema, random, integer: true))!,
            "number" => JsonValue.Create(Number(schema, random, integer: false))!,
            "boolean" => JsonValue.Create(random.Next(2) == 0)!,
            "null" => null!,
            _ => JsonValue.Create(Text(schema, random, name))!,
        };
    }

    /// <summary>Its properties, and the required fields it does not describe (from additionalProperties, else text).</summary>
    static JsonObject Object(JsonObject schema, Random random)
    {
        var result = new JsonObject();
        foreach (var (name, field) in Fields(schema)) result[name] = For(field, random, name);
        return result;
    }

    static IEnumerable<(string Name, JsonObject Schema)> Fields(JsonObject schema)
    {
        var properties = schema["properties"] as JsonObject;
        foreach (var (name, property) in properties ?? [])
            if (property is JsonObject p) yield return (name, p);
        var others = schema["additionalProperties"] as JsonObject ?? new JsonObject { ["type"] = "string" };
        foreach (var name in (schema["required"] as JsonArray ?? []).Select(n => n?.GetValue<string>()).OfType<string>().Distinct())
            if (properties?.ContainsKey(name) != true) yield return (name, others);
    }

    /// <summary>
    /// About how many characters <see cref="For"/> makes for a schema, reckoned as it makes the
    /// value but without making it (item counts multiply, nothing is built), in time that grows
    /// with the schema, not the answer. JsonSchemaValidator refuses a schema whose answer is too
    /// large: no model writes it within its tokens, and this class would build it in memory.
    /// </summary>
    public static double Size(JsonObject schema)
    {
        schema = WithAllOf(schema);
        if (schema["enum"] is JsonArray options && options.Count > 0) return options.Max(o => o?.ToJsonString().Length ?? 4);
        return TypeOf(schema) switch
        {
            "object" => 2 + Fields(schema).Sum(f => f.Name.Length + 4 + Size(f.Schema)),
            "array" => JsonSchemaValidator.IsFalse(schema["items"]) ? 2 : 2 + Count(schema) * (1 + Size(schema["items"] as JsonObject ?? new JsonObject())),
            "integer" or "number" => 24,
            "boolean" or "null" => 5,
            _ => 2 + Math.Min(Math.Max(100, MinLength(schema) + 8), MaxLength(schema)), // Text: ~100 at most, grown a noun at a time to minLength
        };
    }

    static readonly string[] Lowest = ["minimum", "exclusiveMinimum", "minItems", "minLength"], Highest = ["maximum", "exclusiveMaximum", "maxItems", "maxLength"];

    /// <summary>
    /// The schema with its <c>allOf</c> members combined into it, so that one value can be made for
    /// all of them: the tightest of their bounds, the values every enum lists, their properties
    /// (one named twice: both schemas) and required fields; any other keyword from the first that
    /// has it (two members of different types are met only by chance).
    /// </summary>
    static JsonObject WithAllOf(JsonObject schema)
    {
        if (schema["allOf"] is not JsonArray members) return schema;
        var merged = new JsonObject();
        foreach (var part in members.OfType<JsonObject>().Select(WithAllOf).Prepend(schema))
            foreach (var (key, value) in part)
            {
                if (key == "allOf" || value is null) continue;
                if (merged[key] is not { } have) merged[key] = value.DeepClone();
                else if (Lowest.Contains(key) || Highest.Contains(key))
                    merged[key] = Lowest.Contains(key) ? Math.Max(have.GetValue<double>(), value.GetValue<double>()) : Math.Min(have.GetValue<double>(), value.GetValue<double>());
                else if (key == "enum" && have is JsonArray listed && value is JsonArray also)
                    merged[key] = new JsonArray([.. listed.Where(v => also.Any(w => JsonNode.DeepEquals(v, w))).Select(v => v?.DeepClone())]);
                else if (key == "properties" && have is JsonObject properties && value is JsonObject more)
                    foreach (var (name, property) in more)
                        properties[name] = properties[name] is { } first ? new JsonObject { ["allOf"] = new JsonArray(first.DeepClone(), property?.DeepClone()) } : property?.DeepClone();
                else if (key == "required" && have is JsonArray required && value is JsonArray names)
                    foreach (var n in names) required.Add(n?.DeepClone());
            }
        return merged;
    }

    static JsonArray Array(JsonObject schema, Random random, string name)
    {
        if (JsonSchemaValidator.IsFalse(schema["items"])) return []; // no item is allowed
        var items = schema["items"] as JsonObject ?? new JsonObject { ["type"] = "string" };
        var array = new JsonArray();
        for (var i = 0; i < Count(schema); i++) array.Add(For(items, random, name));
        return array;
    }

    /// <summary>Three items, or as near as minItems and maxItems allow.</summary>
    static int Count(JsonObject schema)
    {
        var min = (int?)schema["minItems"]?.GetValue<double>() ?? 1;
        var max = (int?)schema["maxItems"]?.GetValue<double>() ?? Math.Max(min, 3);
        return Math.Min(Math.Clamp(3, min, Math.Max(min, max)), JsonSchemaValidator.MaxItems);
    }

    /// <summary>
    /// A number inside the schema's bounds, exclusive ones too (an integer: a whole number inside
    /// them, when there is one), away from their edges; two decimals when that stays inside.
    /// </summary>
    static double Number(JsonObject schema, Random random, bool integer)
    {
        var low = Math.Max(Read("minimum") ?? double.MinValue,
            Read("exclusiveMinimum") is { } above ? integer ? Math.Floor(above) + 1 : Math.BitIncrement(above) : double.MinValue);
        var high = Math.Min(Read("maximum") ?? double.MaxValue,
            Read("exclusiveMaximum") is { } below ? integer ? Math.Ceiling(below) - 1 : Math.BitDecrement(below) : double.MaxValue);
        if (low == double.MinValue) low = high == double.MaxValue ? 0 : high - 100;
        if (high == double.MaxValue) high = low + 100;
        if (integer) (low, high) = (Math.Ceiling(low), Math.Floor(high));
        if (low > high) return low; // nothing meets them (an integer between exclusive bounds a step apart; the validator refuses the rest)
        var u = 0.1 + 0.8 * random.NextDouble();
        var value = Math.Clamp(low * (1 - u) + high * u, low, high); // no overflow between far bounds; clamped against rounding past one
        var rounded = Math.Round(value, integer ? 0 : 2);
        return rounded >= low && rounded <= high ? rounded : value;

        double? Read(string keyword) => JsonSchemaValidator.Number(schema[keyword]);
    }

    static string Text(JsonObject schema, Random random, string name)
    {
        var text = name.Contains("name", StringComparison.OrdinalIgnoreCase) || name.Contains("title", StringComparison.OrdinalIgnoreCase)
            ? Capital(Syllables[random.Next(Syllables.Length)] + Syllables[random.Next(Syllables.Length)]) + " " +
              Capital(Syllables[random.Next(Syllables.Length)] + Syllables[random.Next(Syllables.Length)] + Syllables[random.Next(Syllables.Length)])
            : $"The {Words[random.Next(Words.Length)]} {Nouns[random.Next(Nouns.Length)]}, bound to the {Words[random.Next(Words.Length)]} {Nouns[random.Next(Nouns.Length)]}.";
        var words = new System.Text.StringBuilder(text);
        while (words.Length < MinLength(schema)) words.Append(' ').Append(Nouns[random.Next(Nouns.Length)]);
        text = words.ToString();
        return text.Length > MaxLength(schema) ? text[..MaxLength(schema)] : text;
    }

    static int MinLength(JsonObject schema) => Math.Min((int?)schema["minLength"]?.GetValue<double>() ?? 0, JsonSchemaValidator.MaxLength);
    static int MaxLength(JsonObject schema) => (int?)schema["maxLength"]?.GetValue<double>() ?? int.MaxValue;

    static string Capital(string s) => char.ToUpperInvariant(s[0]) + s[1..];

    internal static string? TypeOf(JsonObject schema) => schema["type"] switch
    {
        JsonValue v => v.GetValue<string>(),
        JsonArray a => a.Select(t => t?.GetValue<string>()).FirstOrDefault(t => t != "null"),
        _ => schema["properties"] is not null || schema["required"] is not null ? "object" : null,
    };
}
