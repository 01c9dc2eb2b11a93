using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.Json.Serialization.Metadata;

namespace JobService.Handlers;

/// <summary>
/// Reads a made-up payload of a handler's record once, on an idle worker before any job of its
/// type (<see cref="JobTypeDefinition.RehearseRead"/>). The first read of a type runs
/// System.Text.Json's converters for it for the first time and compiles its emitted constructor
/// and setters, which building the contract (GetTypeInfo) does not: an idle worker's first job
/// waited 5–7 ms for that between its claim and its handler (docs/benchmarks.md, forty-first
/// session). The made-up payload has each member at its plainest value ("" for text, 0, the first
/// name of an enum, one element in a list, {} for a JSON node). Nothing read is kept.
/// </summary>
static class PayloadWarmUp
{
    /// <summary>
    /// Whether the made-up payload was read whole. A warm-up only: false is no error, and whatever
    /// the record's own code throws is dropped here (a job's read meets it, and reports it).
    /// </summary>
    public static bool Read<TPayload>()
    {
        try { return Sample(typeof(TPayload)).Deserialize<TPayload>(JobJson.Options) is not null; }
        catch (Exception) { return false; }
    }

    /// <summary>A payload of <paramref name="type"/>'s shape, as the worker hands it to the handler.</summary>
    public static JsonElement Sample(Type type) => JsonSerializer.SerializeToElement(Value(type, []));

    /// <param name="building">The records being made up around this value: one inside itself is null (or an empty list).</param>
    static JsonNode? Value(Type type, HashSet<Type> building)
    {
        type = Nullable.GetUnderlyingType(type) ?? type;
        if (type == typeof(string)) return "";
        if (type == typeof(JsonArray)) return new JsonArray();
        if (type == typeof(JsonElement) || type.IsAssignableFrom(typeof(JsonObject))) return new JsonObject(); // also JsonNode and object
        if (type.IsEnum) return Written(Enum.GetValues(type).GetValue(0), type);
        var info = JobJson.Options.GetTypeInfo(type);
        switch (info.Kind)
        {
            case JsonTypeInfoKind.Object when building.Add(type):
                var members = new JsonObject();
                foreach (var p in info.Properties)
                    if (!p.IsExtensionData && (p.Set is not null || p.AssociatedParameter is not null)) members[p.Name] = Value(p.PropertyType, building);
                building.Remove(type);
                return members;
            case JsonTypeInfoKind.Object: return null;
            case JsonTypeInfoKind.Enumerable:
                return building.Contains(info.ElementType!) ? new JsonArray() : new JsonArray(Value(info.ElementType!, building));
            case JsonTypeInfoKind.Dictionary: return new JsonObject();
            default: return type.IsValueType ? Written(Activator.CreateInstance(type), type) : null;
        }
    }

    /// <summary>The value as the service's JSON writes it: a date's text, an enum's name.</summary>
    static JsonNode? Written(object? value, Type type) => JsonSerializer.SerializeToNode(value, type, JobJson.Options);
}
