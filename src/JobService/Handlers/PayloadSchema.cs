using System.ComponentModel;
using System.ComponentModel.DataAnnotations;
using System.Reflection;
using System.Text.Json.Nodes;
using System.Text.Json.Schema;

namespace JobService.Handlers;

/// <summary>
/// Publishes a payload record as JSON Schema with .NET's own exporter, adding what the
/// validation attributes enforce (ranges, lengths) and descriptions and defaults, so that
/// <c>GET /job-types</c> tells a client exactly what submit will accept.
/// </summary>
public static class PayloadSchema
{
    static readonly JsonSchemaExporterOptions Exporter = new()
    {
        TreatNullObliviousAsNonNullable = true,
        TransformSchemaNode = (context, node) =>
        {
            if (node is not JsonObject schema) return node;
            var member = (ICustomAttributeProvider?)context.PropertyInfo?.AttributeProvider;
            if (member is null) return schema;
            foreach (var attribute in member.GetCustomAttributes(true))
            {
                switch (attribute)
                {
                    case DescriptionAttribute d: schema["description"] = d.Description; break;
                    case DefaultValueAttribute { Value: { } v }: schema["default"] = JsonValue.Create(v); break;
                    case RangeAttribute r:
                        schema["minimum"] = JsonValue.Create(r.Minimum);
                        schema["maximum"] = JsonValue.Create(r.Maximum);
                        break;
                    case StringLengthAttribute s:
                        schema["maxLength"] = s.MaximumLength;
                        if (s.MinimumLength > 0) schema["minLength"] = s.MinimumLength;
                        break;
                    case MaxLengthAttribute m: schema[IsArray(schema) ? "maxItems" : "maxLength"] = m.Length; break;
                    case MinLengthAttribute m: schema[IsArray(schema) ? "minItems" : "minLength"] = m.Length; break;
                }
            }
            return schema;
        },
    };

    public static JsonObject For<TPayload>()
    {
        var schema = JobJson.Options.GetJsonSchemaAsNode(typeof(TPayload), Exporter).AsObject();
        schema["additionalProperties"] = false; // unknown fields are refused at submit
        return schema;
    }

    static bool IsArray(JsonObject schema) =>
        schema["type"] is JsonNode t && t.ToJsonString().Contains("array", StringComparison.Ordinal);
}
