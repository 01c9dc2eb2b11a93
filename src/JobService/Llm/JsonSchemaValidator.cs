using System.Globalization;
using System.Runtime.InteropServices;
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
/// answers and payloads need.) Errors are keyed by JSON path. Lengths count characters (code
/// points), as JSON Schema does and a client's validator will: an emoji is one, not two UTF-16 units.
/// </summary>
public static class JsonSchemaValidator
{
    public const int MaxItems = 1_000;
    public const int MaxLength = 100_000;
    const int MaxDepth = 16;
    static readonly string[] Types = ["object", "array", "string", "integer", "number", "boolean", "null"];
    static readonly string[] Counts = ["minItems", "maxItems", "minLength", "maxLength"];
    static readonly string[] Bounds = ["minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"];
    static readonly (string Low, string High)[] Ranges = [("minItems", "maxItems"), ("minLength", "maxLength"), ("minimum", "maximum")];

    /// <summary>
    /// Keywords that constrain a value but that this validator does not read: in a schema a person
    /// wrote (a client's, or a declared type's), each is refused rather than silently not checked.
    /// Annotations (title, description, default, examples, format, $defs, …) are fine.
    /// </summary>
    static readonly string[] Unchecked =
    [
        "anyOf", "oneOf", "not", "const", "$ref", "$dynamicRef", "if", "then", "else", "dependentRequired", "dependentSchemas",
        "dependencies", "patternProperties", "propertyNames", "minProperties", "maxProperties", "uniqueItems", "contains",
        "minContains", "maxContains", "prefixItems", "additionalItems", "unevaluatedProperties", "unevaluatedItems", "multipleOf",
    ];

    // A pattern runs on text a client sent: bounded, so that a catastrophic one cannot hold a request.
    static readonly TimeSpan PatternTimeout = TimeSpan.FromMilliseconds(250);
    const RegexOptions PatternOptions = RegexOptions.ECMAScript | RegexOptions.CultureInvariant;

    public static Dictionary<string, string[]> Validate(JsonNode? value, JsonObject schema, string path = "$")
    {
        // A malformed keyword ("additionalProperties": "False") is the schema's fault: said once,
        // never as an error on each value it would have been applied to.
        List<string> problems;
        JsonElement element;
        try
        {
            problems = SchemaProblems(schema);
            // Read again from its text, so that a duplicate key in a parsed answer is refused
            // (a node parsed from text keeps that text, and writes it back as it was).
            using var document = JsonDocument.Parse(value?.ToJsonString() ?? "null", new JsonDocumentOptions { AllowDuplicateProperties = false });
            element = document.RootElement.Clone();
        }
        catch (Exception e) when (Unreadable(e) || e is JsonException)
        {
            return new() { [path] = [$"could not be checked: {e.Message}"] };
        }
        if (problems.Count > 0)
            return new() { [path] = [.. problems.Select(p => $"could not be checked: the schema is invalid: {p}")] };
        return ValidateChecked(element, Compile(schema), path);
    }

    /// <summary>A duplicate key in a parsed answer, or a form SchemaProblems does not know: said as an error, never thrown.</summary>
    static bool Unreadable(Exception e) => e is InvalidOperationException or FormatException or ArgumentException;

    /// <summary>
    /// <see cref="Validate"/> against a schema that <see cref="SchemaProblems"/> already accepted
    /// once and <see cref="Compile"/> read (a job type's payload schema, when the type is defined),
    /// not again per value; the value is read where it lies, with no copy of it built.
    /// </summary>
    public static Dictionary<string, string[]> ValidateChecked(JsonElement value, CompiledSchema schema, string path)
    {
        var errors = new Dictionary<string, List<string>>();
        Check(value, schema, path, errors);
        return errors.ToDictionary(e => e.Key, e => e.Value.ToArray());
    }

    /// <summary>
    /// Checks a schema an answer is asked for under, before it is stored or asked (a client's for
    /// structured_generation, with <paramref name="clientLimits"/>; a declared type's output schema,
    /// without): keywords of the right form, known types, sizes the offline provider and a model can produce, and an
    /// object allowed at the top: the answer is asked for as one JSON object (a model's JSON
    /// mode answers with nothing else), so under a schema no object satisfies
    /// (<c>"type": "array"</c>, <c>"type": "null"</c>, <c>"enum": [null]</c>) every answer would fail.
    /// </summary>
    public static List<string> CheckSchema(JsonNode? schema, string path = "schema", bool clientLimits = true)
    {
        if (schema is not JsonObject root) return [$"{path} must be a JSON object"];
        var errors = new List<string>();
        Problems(schema, path, 0, clientLimits, errors, refuseUnchecked: true);
        if (errors.Count == 0 && !AllowsAnObject(root))
            errors.Add($"{path} must allow a JSON object at its top (by its type, enum and allOf): the answer is asked for as one JSON object");
        if (errors.Count == 0 && OfflineJson.Size(root) is var size and > MaxAnswerCharacters)
            errors.Add($"{path} asks for an answer of about {size:N0} characters (minItems and minLength multiply through nesting); " +
                $"at most {MaxAnswerCharacters:N0}: no model writes it within its tokens, and the offline provider would build it in memory");
        return errors;
    }

    public const int MaxAnswerCharacters = 1_000_000;

    /// <summary>Whether the schema's own type, enum and allOf leave room for some object (what the properties then require is the model's to meet).</summary>
    static bool AllowsAnObject(JsonObject schema) =>
        (schema["type"] is not { } type || TypeNames(type) is { } names && names.Contains("object"))
        && (schema["enum"] is not JsonArray values || values.Any(v => v is JsonObject))
        && (schema["allOf"] is not JsonArray all || all.All(s => s is JsonObject o ? AllowsAnObject(o) : !IsFalse(s)));

    internal static bool IsFalse(JsonNode? node) => node is JsonValue v && v.GetValueKind() == JsonValueKind.False;

    /// <summary>
    /// The keywords of a schema that are not of the form this validator reads; empty when it can be
    /// used. With <paramref name="refuseUnchecked"/> (a schema a person wrote, not one exported from
    /// a payload record), a keyword it does not check is one too.
    /// </summary>
    public static List<string> SchemaProblems(JsonNode? schema, string path = "schema", bool refuseUnchecked = false)
    {
        var errors = new List<string>();
        Problems(schema, path, 0, clientLimits: false, errors, refuseUnchecked);
        return errors;
    }

    static void Problems(JsonNode? schema, string path, int depth, bool clientLimits, List<string> errors, bool refuseUnchecked)
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
        if (refuseUnchecked)
            foreach (var keyword in Unchecked.Where(s.ContainsKey))
                errors.Add($"{path}.{keyword} is not supported: nothing would be checked against it (docs/llm.md lists the keywords that are)");
        if (s["type"] is { } type && !(TypeNames(type) is { Count: > 0 } names && names.All(Types.Contains)))
            errors.Add($"{path}.type must be one of {string.Join(", ", Types)}, or a list of them");
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
        else if (s["required"] is JsonArray listed && listed.Select(Text).Distinct().Count() < listed.Count)
            errors.Add($"{path}.required must name each field once");
        if (s["enum"] is { } e && e is not JsonArray) errors.Add($"{path}.enum must be an array");
        // Keywords that contradict each other are a mistake: the value they describe (or, for an
        // optional field, any value of it) would be refused every time.
        if (s["enum"] is JsonArray { Count: 0 }) errors.Add($"{path}.enum must list at least one value");
        foreach (var (low, high) in Ranges)
            if (Number(s[low]) is { } least && Number(s[high]) is { } most && least > most)
                errors.Add($"{path}.{low} ({Show(least)}) is more than {path}.{high} ({Show(most)})");
        if (Number(s["exclusiveMinimum"]) is { } above && Number(s["exclusiveMaximum"]) is { } below && above >= below)
            errors.Add($"{path}.exclusiveMinimum ({Show(above)}) is not below {path}.exclusiveMaximum ({Show(below)})");
        if (s["pattern"] is { } p)
        {
            if (Text(p) is not { } pattern) errors.Add($"{path}.pattern must be a string");
            else if (PatternError(pattern) is { } why) errors.Add($"{path}.pattern is not a regular expression: {why}");
        }
        if (s["additionalProperties"] is { } extra) Problems(extra, $"{path}.additionalProperties", depth + 1, clientLimits, errors, refuseUnchecked);
        if (s["items"] is { } items) Problems(items, $"{path}.items", depth + 1, clientLimits, errors, refuseUnchecked);
        if (s["properties"] is { } properties)
        {
            if (properties is not JsonObject po) errors.Add($"{path}.properties must be an object");
            else foreach (var (name, child) in po) Problems(child, $"{path}.properties.{name}", depth + 1, clientLimits, errors, refuseUnchecked);
        }
        if (s["allOf"] is { } allOf)
        {
            if (allOf is not JsonArray parts || parts.Count == 0) errors.Add($"{path}.allOf must be a non-empty array of schemas");
            else for (var i = 0; i < parts.Count; i++) Problems(parts[i], $"{path}.allOf[{i}]", depth + 1, clientLimits, errors, refuseUnchecked);
        }
    }

    /// <summary>Code points: a surrogate pair is one character (the service refuses strings with half of one).</summary>
    static int Characters(string s)
    {
        var count = s.Length;
        foreach (var c in s)
            if (char.IsLowSurrogate(c)) count--;
        return count;
    }

    /// <summary>A schema's keywords as <see cref="Check"/> reads them, read from the JSON once.</summary>
    public sealed class CompiledSchema
    {
        internal bool? Boolean; // the schemas true and false
        internal CompiledSchema[] AllOf = [];
        internal JsonElement[]? Enum;
        internal string EnumText = "";
        internal List<string> Types = [];
        internal Dictionary<string, CompiledSchema>? Properties;
        internal string[] Required = [];
        internal bool NoOtherProperties;
        internal CompiledSchema? OtherProperties, Items;
        internal double? MinItems, MaxItems, MinLength, MaxLength, Minimum, Maximum, ExclusiveMinimum, ExclusiveMaximum;
        internal string? Pattern;
    }

    /// <summary>Reads a schema that <see cref="SchemaProblems"/> accepted: every keyword read here has its form.</summary>
    public static CompiledSchema Compile(JsonNode schemaNode)
    {
        if (schemaNode is not JsonObject schema) return new CompiledSchema { Boolean = schemaNode.GetValueKind() != JsonValueKind.False };
        var extra = schema["additionalProperties"];
        return new CompiledSchema
        {
            AllOf = schema["allOf"] is JsonArray allOf ? [.. allOf.Select(part => Compile(part!))] : [],
            Enum = schema["enum"] is JsonArray options ? [.. options.Select(o => JsonSerializer.SerializeToElement(o))] : null,
            EnumText = schema["enum"]?.ToJsonString() ?? "",
            Types = schema["type"] is { } t ? TypeNames(t)! : [],
            Properties = (schema["properties"] as JsonObject)?.Where(p => p.Value is not null).ToDictionary(p => p.Key, p => Compile(p.Value!)),
            Required = [.. (schema["required"] as JsonArray ?? []).Select(r => Text(r)!)],
            NoOtherProperties = extra is not null && extra.GetValueKind() == JsonValueKind.False,
            OtherProperties = extra is JsonObject ? Compile(extra) : null,
            Items = schema["items"] is { } items ? Compile(items) : null,
            MinItems = Number(schema["minItems"]), MaxItems = Number(schema["maxItems"]),
            MinLength = Number(schema["minLength"]), MaxLength = Number(schema["maxLength"]),
            Minimum = Number(schema["minimum"]), Maximum = Number(schema["maximum"]),
            ExclusiveMinimum = Number(schema["exclusiveMinimum"]), ExclusiveMaximum = Number(schema["exclusiveMaximum"]),
            Pattern = Text(schema["pattern"]),
        };
    }

    static void Check(JsonElement value, CompiledSchema schema, string path, Dictionary<string, List<string>> errors)
    {
        void AddAt(string at, string message) => (errors.TryGetValue(at, out var list) ? list : errors[at] = []).Add(message);
        void Add(string message) => AddAt(path, message);

        if (schema.Boolean is { } allowed)
        {
            if (!allowed) Add("is not allowed");
            return;
        }
        foreach (var part in schema.AllOf) Check(value, part, path, errors);
        if (schema.Enum is { } options && !options.Any(o => JsonElement.DeepEquals(o, value)))
            Add($"must be one of {schema.EnumText}");
        var actual = Kind(value);
        if (schema.Types.Count > 0 && !schema.Types.Any(type => type == actual || (type == "number" && actual == "integer")))
        {
            Add($"must be of type {string.Join(" or ", schema.Types)}, not {actual}");
            return;
        }
        switch (value.ValueKind)
        {
            case JsonValueKind.Object:
                foreach (var required in schema.Required)
                    if (!value.TryGetProperty(required, out _)) AddAt($"{path}.{required}", "is required");
                foreach (var property in value.EnumerateObject())
                {
                    if (schema.Properties?.GetValueOrDefault(property.Name) is { } childSchema) Check(property.Value, childSchema, $"{path}.{property.Name}", errors);
                    else if (schema.NoOtherProperties) AddAt($"{path}.{property.Name}", "is not a known field");
                    else if (schema.OtherProperties is { } extraSchema) Check(property.Value, extraSchema, $"{path}.{property.Name}", errors);
                }
                break;
            case JsonValueKind.Array:
                var count = value.GetArrayLength();
                if (schema.MinItems is { } minItems && count < minItems) Add($"must have at least {Show(minItems)} items");
                if (schema.MaxItems is { } maxItems && count > maxItems) Add($"must have at most {Show(maxItems)} items");
                if (schema.Items is { } items)
                {
                    var i = 0;
                    foreach (var item in value.EnumerateArray()) Check(item, items, $"{path}[{i++}]", errors);
                }
                break;
            case JsonValueKind.String:
                if (schema is { MinLength: null, MaxLength: null, Pattern: null }) break;
                var s = value.GetString()!;
                // A string has between Length / 2 and Length characters: counted only when the bounds fall in between.
                var characters = schema.MaxLength < s.Length || schema.MinLength > s.Length / 2 ? Characters(s) : s.Length;
                if (schema.MinLength is { } minLength && characters < minLength) Add($"must be at least {Show(minLength)} characters");
                if (schema.MaxLength is { } maxLength && characters > maxLength) Add($"must be at most {Show(maxLength)} characters");
                if (schema.Pattern is { } pattern)
                {
                    var matches = Matches(s, pattern);
                    if (matches is null) Add("could not be checked: the pattern took too long on it");
                    else if (matches is false) Add($"must match the pattern {pattern}");
                }
                break;
            case JsonValueKind.Number:
                // From the literal: one beyond double's range is ±Infinity here, still above or below every bound.
                var n = double.Parse(JsonMarshal.GetRawUtf8Value(value), NumberStyles.Float, CultureInfo.InvariantCulture);
                if (schema.Minimum is { } minimum && n < minimum) Add($"must be at least {Show(minimum)}");
                if (schema.Maximum is { } maximum && n > maximum) Add($"must be at most {Show(maximum)}");
                if (schema.ExclusiveMinimum is { } above && n <= above) Add($"must be more than {Show(above)}");
                if (schema.ExclusiveMaximum is { } below && n >= below) Add($"must be less than {Show(below)}");
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
    internal static double? Number(JsonNode? node) =>
        node is JsonValue v && v.GetValueKind() == JsonValueKind.Number
        && double.TryParse(v.ToJsonString(), NumberStyles.Float, CultureInfo.InvariantCulture, out var d) && double.IsFinite(d) ? d : null;

    static string Show(double d) => d.ToString(CultureInfo.InvariantCulture);

    static bool IsBoolean(JsonNode? node) => node is JsonValue v && v.GetValueKind() is JsonValueKind.True or JsonValueKind.False;

    static string Kind(JsonElement value) => value.ValueKind switch
    {
        JsonValueKind.Object => "object",
        JsonValueKind.Array => "array",
        JsonValueKind.String => "string",
        JsonValueKind.True or JsonValueKind.False => "boolean",
        JsonValueKind.Number => JsonMarshal.GetRawUtf8Value(value).IndexOfAny((byte)'.', (byte)'e', (byte)'E') >= 0 ? "number" : "integer",
        _ => "null",
    };
}
