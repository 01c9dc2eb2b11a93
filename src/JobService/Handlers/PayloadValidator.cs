using System.ComponentModel.DataAnnotations;
using System.Text.Json;

namespace JobService.Handlers;

/// <summary>
/// Validates a submitted payload against its record: first the shape (JSON types, required
/// and unknown fields), then the record's validation attributes. Errors are keyed by the
/// snake_case field path under <c>payload</c>, as a client wrote it.
/// </summary>
public static class PayloadValidator
{
    public static IDictionary<string, string[]> Validate<TPayload>(JsonElement payload) where TPayload : class
    {
        if (payload.ValueKind != JsonValueKind.Object)
            return Error("payload", "The payload must be a JSON object.");
        // Named per field here, since the deserializer reports missing fields all at once.
        var missing = Schema<TPayload>.Required.Where(name => !payload.TryGetProperty(name, out _)).ToList();
        if (missing.Count > 0)
            return missing.ToDictionary(name => "payload." + name, _ => new[] { "The field is required." });
        TPayload? value;
        try
        {
            value = payload.Deserialize<TPayload>(JobJson.Options);
        }
        catch (JsonException e)
        {
            return Error(FieldOf(e.Path), Clean(e.Message));
        }
        if (value is null) return Error("payload", "The payload must be a JSON object.");

        var results = new List<ValidationResult>();
        if (Validator.TryValidateObject(value, new ValidationContext(value), results, validateAllProperties: true))
            return new Dictionary<string, string[]>();
        return results
            .SelectMany(r => (r.MemberNames.Any() ? r.MemberNames : [""]).Select(m => (Field: FieldOf(m), r.ErrorMessage)))
            .GroupBy(e => e.Field)
            .ToDictionary(g => g.Key, g => g.Select(e => e.ErrorMessage ?? "Invalid value.").ToArray());
    }

    static class Schema<TPayload>
    {
        public static readonly string[] Required = PayloadSchema.For<TPayload>()["required"]?.AsArray()
            .Select(n => n!.GetValue<string>()).ToArray() ?? [];
    }

    static Dictionary<string, string[]> Error(string field, string message) => new() { [field] = [message] };

    /// <summary>"$.max_tokens" or "MaxTokens" becomes "payload.max_tokens".</summary>
    static string FieldOf(string? path)
    {
        if (string.IsNullOrEmpty(path) || path == "$") return "payload";
        var trimmed = path.StartsWith("$.", StringComparison.Ordinal) ? path[2..] : path;
        if (!path.StartsWith('$')) trimmed = JsonNamingPolicy.SnakeCaseLower.ConvertName(trimmed);
        return "payload." + trimmed;
    }

    /// <summary>System.Text.Json names .NET types in its messages; the client knows only JSON.</summary>
    static string Clean(string message)
    {
        var cut = message.IndexOf(" Path:", StringComparison.Ordinal);
        return cut > 0 ? message[..cut] : message;
    }
}
