using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;

namespace JobService;

/// <summary>
/// JSON as the database can store it. PostgreSQL's jsonb refuses the NUL character (<c>\u0000</c>)
/// in any string: a payload carrying one is refused at submit (400), and a handler's result
/// carrying one has it replaced by U+FFFD, so that one odd result never fails a batch of completions.
/// </summary>
public static partial class JsonText
{
    public const string NulRule = "NUL characters (\\u0000) are not accepted: the database cannot store them.";
    public const string SurrogateRule = "Strings must be whole Unicode: bytes that are not UTF-8, or half of a surrogate pair (such as \\ud800 alone), are not accepted.";

    /// <summary>Why the database cannot store this JSON (a NUL, or half a surrogate pair, in a string or a name), or null when it can.</summary>
    public static string? Unstorable(JsonElement e)
    {
        try { return ContainsNul(e) ? NulRule : null; }
        catch (InvalidOperationException) { return SurrogateRule; } // System.Text.Json will not make a string of half a pair, nor of bytes that are not UTF-8
    }

    /// <summary>The same for one string value of a JSON node (a filter's leaf).</summary>
    public static string? Unstorable(System.Text.Json.Nodes.JsonValue value)
    {
        try { return value.GetValue<string>().Contains('\0') ? NulRule : null; }
        catch (InvalidOperationException) { return SurrogateRule; }
    }

    static bool ContainsNul(JsonElement e) => e.ValueKind switch
    {
        JsonValueKind.String => e.GetString()!.Contains('\0'),
        JsonValueKind.Object => e.EnumerateObject().Any(p => p.Name.Contains('\0') || ContainsNul(p.Value)),
        JsonValueKind.Array => e.EnumerateArray().Any(ContainsNul),
        _ => false,
    };

    /// <summary>
    /// Text a handler reports while it runs (a status message, a log line, a model's partial text),
    /// with NUL and half a surrogate pair each replaced by U+FFFD: PostgreSQL refuses the one and
    /// Npgsql will not send the other, and these go out in one write with other jobs'
    /// (<see cref="Worker.ProgressBatcher"/>): refused, they would fail the job at every attempt.
    /// </summary>
    public static string Storable(string text)
    {
        var span = text.AsSpan();
        if (span.IndexOf('\0') < 0 && span.IndexOfAnyInRange('\uD800', '\uDFFF') < 0) return text; // the usual case: nothing copied
        var chars = text.ToCharArray();
        for (var i = 0; i < chars.Length; i++)
        {
            if (char.IsHighSurrogate(chars[i]) && i + 1 < chars.Length && char.IsLowSurrogate(chars[i + 1])) i++; // a whole pair stays
            else if (chars[i] == '\0' || char.IsSurrogate(chars[i])) chars[i] = '\uFFFD';
        }
        return new string(chars);
    }

    /// <summary>The node as JSON text, with every NUL in its strings replaced by U+FFFD.</summary>
    public static string ForStorage(JsonNode node)
    {
        var json = node.ToJsonString(JobJson.Options);
        using var document = JsonDocument.Parse(json);
        return ContainsNul(document.RootElement) ? JsonSerializer.Serialize(Replace(document.RootElement), JobJson.Options) : json;
    }

    static JsonNode? Replace(JsonElement e) => e.ValueKind switch
    {
        JsonValueKind.String => JsonValue.Create(e.GetString()!.Replace('\0', '\uFFFD')),
        JsonValueKind.Object => new JsonObject(e.EnumerateObject().Select(p => KeyValuePair.Create(p.Name.Replace('\0', '\uFFFD'), Replace(p.Value)))),
        JsonValueKind.Array => new JsonArray(e.EnumerateArray().Select(Replace).ToArray()),
        _ => JsonNode.Parse(e.GetRawText()),
    };

    /// <summary>System.Text.Json's message without the .NET types it names: the client knows only JSON.</summary>
    public static string Readable(JsonException e)
    {
        // A string that is not UTF-8 comes as "could not be converted", which would send the client looking at its types.
        if (e.InnerException is InvalidOperationException { Message: var inner } && inner.Contains("UTF-8", StringComparison.Ordinal))
            return "The text is not valid UTF-8.";
        var message = e.Message;
        var cut = message.IndexOf(" Path:", StringComparison.Ordinal);
        if (cut > 0) message = message[..cut];
        message = ConvertedTo().Replace(message, "The value has the wrong JSON type or format.");
        message = UnmappedMember().Replace(message, " is not a known field.");
        return MissingRequired().Replace(message, "Required fields are missing: ${names}.");
    }

    [GeneratedRegex(@"JSON deserialization for type '[^']*' was missing required properties,? including: (?<names>.*?)\.?$")]
    private static partial Regex MissingRequired();

    [GeneratedRegex(@"The JSON value could not be converted to [^ ]+\.")]
    private static partial Regex ConvertedTo();

    [GeneratedRegex(@" could not be mapped to any \.NET member contained in type '[^']*'\.")]
    private static partial Regex UnmappedMember();
}
