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
        options.TypeInfoResolver ??= new DefaultJsonTypeInfoResolver();
        return options;
    }
}
