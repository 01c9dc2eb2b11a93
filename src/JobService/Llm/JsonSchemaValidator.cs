using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;

namespace JobService.Llm;

/// <summary>
/// Validates JSON against the JSON Schema keywords the service's schemas use: type,
/// properties, required, additionalProperties, items, minItems, maxItems, enum, minLength,
/// maxLength, pattern, minimum, maximum, exclusiveMinimum, exclusiveMaximum, allOf, and the
/// schemas true and false. (JsonSchema.Net is not available here; this subset is what model
/// answers and payloads need.) Errors are keyed by JSON path. Lengths count UTF-16 code units,
/// as .NET's own length attributes do.
/// </summary>
public static class JsonSchemaValidator
{
    public const int MaxItems = 1_000;
    public const int MaxLength = 100_000;
    const int MaxDepth = 16;
    static readonly string[] Types = ["object", "array", "string", "integer", "number", "boolean", "null"];
    static readonly string[] Counts = ["minItems", "maxItems", "minLength", "maxLength"];
    static readonly string[] Bounds = ["minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"];

    // A pattern runs on text a client sent: bounded, so that a catastrophic one cannot hold a request.
    static readonly TimeSpan PatternTimeout = TimeSpan.FromMilliseconds(250);
    const RegexOptions PatternOptions = RegexOptions.ECMAScript | RegexOptions.CultureInvariant;

    public static Dictionary<string, string[]> Validate(JsonNode? value, JsonObject schema, string path = "$")
    {
        // A malformed keyword ("additionalProperties": "False") is the schema's fault: said once,
        // never as an error on each value it would have been applied to.
        List<string> problems;
        try
        {
            problems = SchemaProblems(schema);
        }
        catch (Exception e) when (Unreadable(e))
        {
            return new() { [path] = [$"could not be checked: {e.Message}"] };
        }
        if (problems.Count > 0)
            return new() { [path] = [.. problems.Select(p => $"could not be checked: the schema is invalid: {p}")] };
        return ValidateChecked(value, schema, path);
    }

    /// <summary>A duplicate key in a parsed answer, or a form SchemaProblems does not know: said as an error, never thrown.</summary>
    static bool Unreadable(Exception e) => e is InvalidOperationException or FormatException or ArgumentException;

    /// <summary>
    /// <see cref="Validate"/> against a schema that <see cref="SchemaProblems"/> already accepted
    /// once (a job type's payload schema, checked when the type is defined), not again per value.
    /// </summary>
    public static Dictionary<string, string[]> ValidateChecked(JsonNode? value, JsonObject schema, string path)
    {
        var errors = new Dictionary<string, List<string>>();
        try
        {
            Check(value, schema, path, errors);
        }
        catch (Exception e) when (Unreadable(e))
        {
            (errors.TryGetValue(path, out var l) ? l : errors[path] = []).Add($"could not be checked: {e.Message}");
        }
        return errors.ToDictionary(e => e.Key, e => e.Value.ToArray());
    }

    /// <summary>
    /// Checks a schema a client sent (structured_generation) before it is stored: keywords of
    /// the right form, known types, and sizes the offline provider and a model can produce.
    /// </summary>
    public static List<string> CheckSchema(JsonNode? schema, string path = "schema")
    {
        if (schema is not JsonObject) return [$"{path} must be a JSON object"];
        var errors = new List<string>();
        Problems(schema, path, 0, clientLimits: true, errors);
        return errors;
    }

    /// <summary>The keywords of a schema that are not of the form this validator reads; empty when it can be used.</summary>
    public static List<string> SchemaProblems(JsonNode? schema, string path = "schema")
    {
        var errors = new List<string>();
        Problems(schema, path, 0, clientLimits: false, errors);
        return errors;
    }

    static void Problems(JsonNode? schema, string path, int depth, bool clientLimits, List<string> errors)
    {
        if (IsBoolean(schema)) return;
        if (schema is not JsonObject s)
        {
            errors.Add(depth == 0 ? $"{path} must be a JSON object" : $"{path} must be a schema: a JSON object, true or false");
            return;
        }
        if (depth > MaxDepth)
        {
            errors.Add($"{path} nests too deeply");
            return;
        }
        if (s["type"] is { } type && !(TypeNames(type) is { } names && names.All(Types.Contains)))
            errors.Add($"{path}.type must be one of {string.Join(", ", Types)}");
        foreach (var keyword in Counts)
        {
            // Sizes are the client's business only in a client's schema: a model must be able to produce them.
            int? limit = !clientLimits ? null : keyword.EndsWith("Items", StringComparison.Ordinal) ? MaxItems : MaxLength;
            if (s[keyword] is { } n && !(Number(n) is { } d && d >= 0 && d <= (limit ?? double.MaxValue) && d == Math.Floor(d)))
                errors.Add(limit is null ? $"{path}.{keyword} must be a whole number, 0 or more" : $"{path}.{keyword} must be a whole number from 0 to {limit}");
        }
        foreach (var keyword in Bounds)
            if (s[keyword] is { } n && Number(n) is null)
                errors.Add($"{path}.{keyword} must be a number");
        if (s["required"] is { } r && !(r is JsonArray ra && ra.All(x => Text(x) is not null)))
            errors.Add($"{path}.required must be an array of field names");
        if (s["enum"] is { } e && e is not JsonArray) errors.Add($"{path}.enum must be an array");
        if (s["pattern"] is { } p)
        {
            if (Text(p) is not { } pattern) errors.Add($"{path}.pattern must be a string");
            else if (PatternError(pattern) is { } why) errors.Add($"{path}.pattern is not a regular expression: {why}");
        }
        if (s["additionalProperties"] is { } extra) Problems(extra, $"{path}.additionalProperties", depth + 1, clientLimits, errors);
        if (s["items"] is { } items) Problems(items, $"{path}.items", depth + 1, clientLimits, errors);
        if (s["properties"] is { } properties)
        {
            if (properties is not JsonObject po) errors.Add($"{path}.properties must be an object");
            else foreach (var (name, child) in po) Problems(child, $"{path}.properties.{name}", depth + 1, clientLimits, errors);
        }
        if (s["allOf"] is { } allOf)
        {
            if (allOf is not JsonArray parts || parts.Count == 0) errors.Add($"{path}.allOf must be a non-empty array of schemas");
            else for (var i = 0; i < parts.Count; i++) Problems(parts[i], $"{path}.allOf[{i}]", depth + 1, clientLimits, errors);
        }
    }

    // Only called on a schema SchemaProblems accepted: every keyword read here has its form.
    static void Check(JsonNode? value, JsonNode schemaNode, string path, Dictionary<string, List<string>> errors)
    {
        void AddAt(string at, string message) => (errors.TryGetValue(at, out var list) ? list : errors[at] = []).Add(message);
        void Add(string message) => AddAt(path, message);

        if (schemaNode is not JsonObject schema)
        {
            if (schemaNode.GetValueKind() == JsonValueKind.False) Add("is not allowed");
            return;
        }
        if (schema["allOf"] is JsonArray allOf)
            foreach (var part in allOf) Check(value, part!, path, errors);
        if (schema["enum"] is JsonArray options && !options.Any(o => JsonNode.DeepEquals(o, value)))
            Add($"must be one of {options.ToJsonString()}");
        var types = schema["type"] is { } t ? TypeNames(t)! : [];
        var actual = Kind(value);
        if (types.Count > 0 && !types.Any(type => type == actual || (type == "number" && actual == "integer")))
        {
            Add($"must be of type {string.Join(" or ", types)}, not {actual}");
            return;
        }
        switch (value)
        {
            case JsonObject obj:
                var properties = schema["properties"] as JsonObject;
                foreach (var required in (schema["required"] as JsonArray ?? []).Select(Text))
                    if (!obj.ContainsKey(required!)) AddAt($"{path}.{required}", "is required");
                foreach (var (name, child) in obj)
                {
                    if (properties?[name] is { } childSchema) Check(child, childSchema, $"{path}.{name}", errors);
                    else if (schema["additionalProperties"] is { } extra && extra.GetValueKind() == JsonValueKind.False) AddAt($"{path}.{name}", "is not a known field");
                    else if (schema["additionalProperties"] is JsonObject extraSchema) Check(child, extraSchema, $"{path}.{name}", errors);
                }
                break;
            case JsonArray array:
                if (Number(schema["minItems"]) is { } minItems && array.Count < minItems) Add($"must have at least {Show(minItems)} items");
                if (Number(schema["maxItems"]) is { } maxItems && array.Count > maxItems) Add($"must have at most {Show(maxItems)} items");
                if (schema["items"] is { } items)
                    for (var i = 0; i < array.Count; i++) Check(array[i], items, $"{path}[{i}]", errors);
                break;
            case JsonValue v when actual == "string":
                var s = v.GetValue<string>();
                if (Number(schema["minLength"]) is { } minLength && s.Length < minLength) Add($"must be at least {Show(minLength)} characters");
                if (Number(schema["maxLength"]) is { } maxLength && s.Length > maxLength) Add($"must be at most {Show(maxLength)} characters");
                if (Text(schema["pattern"]) is { } pattern)
                {
                    var matches = Matches(s, pattern);
                    if (matches is null) Add("could not be checked: the pattern took too long on it");
                    else if (matches is false) Add($"must match the pattern {pattern}");
                }
                break;
            case JsonValue v when actual is "number" or "integer":
                // Not Number(): a literal beyond double's range is ±Infinity here, still above or below every bound.
                var n = double.Parse(v.ToJsonString(), NumberStyles.Float, CultureInfo.InvariantCulture);
                if (Number(schema["minimum"]) is { } minimum && n < minimum) Add($"must be at least {Show(minimum)}");
                if (Number(schema["maximum"]) is { } maximum && n > maximum) Add($"must be at most {Show(maximum)}");
                if (Number(schema["exclusiveMinimum"]) is { } above && n <= above) Add($"must be more than {Show(above)}");
                if (Number(schema["exclusiveMaximum"]) is { } below && n >= below) Add($"must be less than {Show(below)}");
                break;
        }
    }

    /// <summary>
    /// A JSON Schema pattern is ECMA-262 and unanchored (a search). .NET's ECMAScript option
    /// gives ECMA's classes (\d is 0-9) but keeps .NET's <c>$</c>, which also matches before a
    /// final "\n", so "user\n" would pass "^(user)$": outside a character class, <c>$</c>
    /// becomes <c>\z</c>, ECMA's end of input.
    /// </summary>
    public static bool? Matches(string text, string pattern)
    {
        try
        {
            return Regex.IsMatch(text, ToDotNet(pattern), PatternOptions, PatternTimeout); // the static cache compiles a pattern once
        }
        catch (RegexMatchTimeoutException)
        {
            return null;
        }
    }

    static string? PatternError(string pattern)
    {
        try
        {
            Regex.IsMatch("", ToDotNet(pattern), PatternOptions, PatternTimeout);
            return null;
        }
        catch (RegexMatchTimeoutException)
        {
            return null; // it compiled
        }
        catch (ArgumentException e)
        {
            return e.Message;
        }
    }

    static string ToDotNet(string pattern)
    {
        var result = new StringBuilder(pattern.Length + 2);
        var inClass = false;
        for (var i = 0; i < pattern.Length; i++)
        {
            var c = pattern[i];
            if (c == '\\' && i + 1 < pattern.Length)
            {
                result.Append(c).Append(pattern[++i]); // an escaped \$ or \] is a character
                continue;
            }
            if (inClass) inClass = c != ']';
            else if (c == '[') inClass = true;
            else if (c == '$')
            {
                result.Append(@"\z");
                continue;
            }
            result.Append(c);
        }
        return result.ToString();
    }

    /// <summary>"string" or ["string", "null"] as a list; null when any entry is not a string.</summary>
    static List<string>? TypeNames(JsonNode type)
    {
        var names = type is JsonArray a ? a.Select(Text).ToList() : [Text(type)];
        return names.All(n => n is not null) ? names.OfType<string>().ToList() : null;
    }

    static string? Text(JsonNode? node) =>
        node is JsonValue v && v.GetValueKind() == JsonValueKind.String ? v.GetValue<string>() : null;

    // Read from the literal, so that a schema built in memory (an int) and one parsed (an element) read alike.
    static double? Number(JsonNode? node) =>
        node is JsonValue v && v.GetValueKind() == JsonValueKind.Number
        && double.TryParse(v.ToJsonString(), NumberStyles.Float, CultureInfo.InvariantCulture, out var d) && double.IsFinite(d) ? d : null;

    static string Show(double d) => d.ToString(CultureInfo.InvariantCulture);

    static bool IsBoolean(JsonNode? node) => node is JsonValue v && v.GetValueKind() is JsonValueKind.True or JsonValueKind.False;

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
