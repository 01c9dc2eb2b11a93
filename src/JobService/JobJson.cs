using System.Text.Json;
using System.Text.Json.Serialization;
using System.Text.Json.Serialization.Metadata;

namespace JobService;

/// <summary>
/// The one JSON dialect of the service: snake_case names, lower-case enums, and strict
/// reading (an unknown or misspelled field is an error, not silently dropped).
/// </summary>
public static class JobJson
{
    public static readonly JsonSerializerOptions Options = Configure(new JsonSerializerOptions());

    public static JsonSerializerOptions Configure(JsonSerializerOptions options)
    {
        options.PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower;
        options.DictionaryKeyPolicy = null;
        options.UnmappedMemberHandling = JsonUnmappedMemberHandling.Disallow;
        options.RespectNullableAnnotations = true;
        options.RespectRequiredConstructorParameters = true;
        options.AllowDuplicateProperties = false; // {"name":"a","name":"b"} is ambiguous: refused (400), never last-wins
        options.NumberHandling = JsonNumberHandling.Strict; // "priority": "5" is a string: ASP.NET's web defaults would read it as 5
        options.Converters.Add(new JsonStringEnumConverter(JsonNamingPolicy.SnakeCaseLower, allowIntegerValues: false));
        options.Converters.Add(new UtcUnlessSaid());
        options.TypeInfoResolver ??= new DefaultJsonTypeInfoResolver();
        return options;
    }

    /// <summary>
    /// A time without an offset ("2030-01-01T09:00:00", "2030-01-01") is UTC, as every time of the
    /// API is, and as the query string's are read: System.Text.Json would read it in the server's
    /// time zone, so the same body meant another moment on a host set to Tokyo.
    /// </summary>
    sealed class UtcUnlessSaid : JsonConverter<DateTimeOffset>
    {
        public override DateTimeOffset Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options)
        {
            if (reader.TokenType == JsonTokenType.String && reader.TryGetDateTime(out var at) && at.Kind == DateTimeKind.Unspecified)
                return new DateTimeOffset(at, TimeSpan.Zero);
            return reader.TokenType == JsonTokenType.String && reader.TryGetDateTimeOffset(out var said) ? said : throw new JsonException();
        }

        public override void Write(Utf8JsonWriter writer, DateTimeOffset value, JsonSerializerOptions options) => writer.WriteStringValue(value);
    }
}
