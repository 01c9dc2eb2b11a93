using System.ComponentModel;
using System.ComponentModel.DataAnnotations;
using System.Globalization;
using System.Reflection;
using System.Text.Json.Nodes;
using System.Text.Json.Schema;
using System.Text.Json.Serialization.Metadata;
using System.Text.RegularExpressions;
using JobService.Llm;

namespace JobService.Handlers;

/// <summary>
/// Publishes a payload record as JSON Schema with .NET's own exporter, adding what the
/// validation attributes enforce (Required, Range, StringLength, MinLength, MaxLength, Length,
/// RegularExpression, AllowedValues), on nested records too, and descriptions and defaults, so
/// that <c>GET /job-types</c> tells a client exactly what submit will accept. Rules across
/// fields (<see cref="IValidatableObject"/>) and other attributes are enforced but not published.
/// </summary>
public static partial class PayloadSchema
{
    /// <summary>
    /// A character that is not white space by <see cref="char.IsWhiteSpace(char)"/>: what a
    /// [Required] string needs. Spelled out, as ECMA's \s and .NET's differ.
    /// </summary>
    public const string NotBlank = @"[^\t\n\v\f\r \u0085\u00A0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000]";

    static readonly JsonSchemaExporterOptions Exporter = new()
    {
        TreatNullObliviousAsNonNullable = true,
        TransformSchemaNode = (context, node) =>
        {
            if (node is not JsonObject schema) return node;
            if (context.PropertyInfo is { } property) Publish(property, schema);
            else if (context.TypeInfo.Kind == JsonTypeInfoKind.Object)
            {
                PublishTimes(context.TypeInfo, schema); // first: a [Required] time's null is then taken out like any other's
                RequireAnnotated(context.TypeInfo, schema);
            }
            return schema;
        },
    };

    public static JsonObject For<TPayload>()
    {
        var schema = JobJson.Options.GetJsonSchemaAsNode(typeof(TPayload), Exporter).AsObject();
        schema["additionalProperties"] = false; // unknown fields are refused at submit
        // Submit checks payloads against this schema too: one it cannot read must stop the start-up, not every submit.
        if (JsonSchemaValidator.SchemaProblems(schema) is { Count: > 0 } problems)
            throw new Hosting.StartupRefusedException($"The payload schema of {typeof(TPayload).Name} cannot be published: {string.Join("; ", problems)}");
        return schema;
    }

    /// <summary>
    /// A time is a string in ISO 8601. JobJson's own converter (UTC unless the time says otherwise)
    /// hides that from the exporter, which publishes "any value"; set here, on the object that has
    /// it, since the exporter rebuilds a property's "any value" schema after its transform.
    /// </summary>
    static void PublishTimes(JsonTypeInfo type, JsonObject schema)
    {
        foreach (var property in type.Properties)
        {
            var time = Nullable.GetUnderlyingType(property.PropertyType) ?? property.PropertyType;
            if (time != typeof(DateTime) && time != typeof(DateTimeOffset) || schema["properties"]?[property.Name] is not JsonObject published) continue;
            published["type"] = time == property.PropertyType ? "string" : new JsonArray("string", "null");
            published["format"] = "date-time";
        }
    }

    static void Publish(JsonPropertyInfo property, JsonObject schema)
    {
        var attributes = property.AttributeProvider?.GetCustomAttributes(true) ?? [];
        foreach (var attribute in attributes)
        {
            switch (attribute)
            {
                case DescriptionAttribute d: schema["description"] = d.Description; break;
                case DefaultValueAttribute { Value: { } v }: schema["default"] = JsonValue.Create(v); break;
                case RangeAttribute r:
                    if (Limit(r.Minimum) is { } min) schema[r.MinimumIsExclusive ? "exclusiveMinimum" : "minimum"] = min;
                    if (Limit(r.Maximum) is { } max) schema[r.MaximumIsExclusive ? "exclusiveMaximum" : "maximum"] = max;
                    break;
                case StringLengthAttribute s:
                    schema["maxLength"] = s.MaximumLength;
                    if (s.MinimumLength > 0) schema["minLength"] = s.MinimumLength;
                    break;
                case LengthAttribute l:
                    schema[IsArray(schema) ? "minItems" : "minLength"] = l.MinimumLength;
                    schema[IsArray(schema) ? "maxItems" : "maxLength"] = l.MaximumLength;
                    break;
                case MaxLengthAttribute { Length: >= 0 } m: schema[IsArray(schema) ? "maxItems" : "maxLength"] = m.Length; break;
                case MinLengthAttribute m: schema[IsArray(schema) ? "minItems" : "minLength"] = m.Length; break;
                case AllowedValuesAttribute a: schema["enum"] = new JsonArray([.. a.Values.Select(v => JsonValue.Create(v))]); break;
            }
        }
        if (!IsString(schema)) return;
        var regex = attributes.OfType<RegularExpressionAttribute>().SingleOrDefault();
        var required = attributes.OfType<RequiredAttribute>().Any(r => !r.AllowEmptyStrings);
        if (regex is not null) schema["pattern"] = WholeMatch(regex.Pattern, allowEmpty: !required);
        if (!required) return;
        // [Required] refuses "" and white space alone: said by the pattern, unless the author's
        // own cannot match white space anyway ("^(system|user|assistant)$").
        if (schema["minLength"] is null) schema["minLength"] = 1;
        if (regex is null) schema["pattern"] = NotBlank;
        else if (!NeverMatchesWhiteSpace().IsMatch(regex.Pattern)) schema["allOf"] = new JsonArray(new JsonObject { ["pattern"] = NotBlank });
    }

    /// <summary>
    /// [Required] on a property with a default still refuses a missing or null value: it is
    /// required and not nullable in the schema too (the exporter only reads the constructor).
    /// </summary>
    static void RequireAnnotated(JsonTypeInfo type, JsonObject schema)
    {
        foreach (var property in type.Properties)
        {
            if (property.AttributeProvider?.IsDefined(typeof(RequiredAttribute), true) != true) continue;
            var required = schema["required"] as JsonArray ?? (JsonArray)(schema["required"] = new JsonArray());
            if (!required.Any(r => r?.GetValue<string>() == property.Name)) required.Add(property.Name);
            if (schema["properties"]?[property.Name] is not JsonObject p) continue;
            p.Remove("default");
            if (p["type"] is JsonArray types && types.FirstOrDefault(t => t?.GetValue<string>() == "null") is { } isNull)
            {
                types.Remove(isNull);
                if (types.Count == 1) p["type"] = types[0]!.GetValue<string>();
            }
        }
    }

    /// <summary>
    /// [RegularExpression] matches the whole value and lets the empty string pass; a JSON
    /// Schema pattern searches. So the published pattern is anchored (kept as written when it
    /// already is: "^(a|b)$"), and "^$|" lets "" through when the pattern does not. (A pattern
    /// whose first match is not its longest, "a|ab", is stricter under .NET than published.)
    /// </summary>
    static string WholeMatch(string pattern, bool allowEmpty)
    {
        var anchored = IsAnchored(pattern) ? pattern : $"^(?:{pattern})$";
        return allowEmpty && JsonSchemaValidator.Matches("", anchored) != true ? "^$|" + anchored : anchored;
    }

    /// <summary>Starts with ^, ends with an unescaped $, and has no | outside a group: "^a|b$" is two half-anchored patterns.</summary>
    static bool IsAnchored(string p)
    {
        if (!p.StartsWith('^')) return false;
        var (depth, inClass) = (0, false);
        for (var i = 1; i < p.Length; i++)
        {
            var c = p[i];
            if (c == '\\') i++;
            else if (inClass) inClass = c != ']';
            else if (c == '[') inClass = true;
            else if (c == '(') depth++;
            else if (c == ')') depth--;
            else if (c == '|' && depth == 0) return false;
            else if (c == '$' && i == p.Length - 1) return depth == 0;
        }
        return false;
    }

    /// <summary>
    /// Letters, digits, _ and -, groups, alternatives, quantifiers, anchors, \d, \w and classes
    /// of those: nothing in such a pattern matches a white-space character.
    /// </summary>
    [GeneratedRegex(@"^(?:\\[dw]|\[(?!\^)|[\]A-Za-z0-9_(){}|?*+,:^$-])*\z")]
    private static partial Regex NeverMatchesWhiteSpace();

    /// <summary>Range(1, 10), Range(0.0, 2.0), or Range(typeof(decimal), "0.5", "1"); a non-numeric range (dates) is not published.</summary>
    static JsonNode? Limit(object? limit) => limit switch
    {
        int i => i,
        double d => d,
        string s when double.TryParse(s, NumberStyles.Float, CultureInfo.InvariantCulture, out var d) => d,
        _ => null,
    };

    static bool IsArray(JsonObject schema) => HasType(schema, "array");

    static bool IsString(JsonObject schema) => HasType(schema, "string");

    static bool HasType(JsonObject schema, string type) => schema["type"] switch
    {
        JsonValue v => v.GetValue<string>() == type,
        JsonArray a => a.Any(t => t?.GetValue<string>() == type),
        _ => false,
    };
}
