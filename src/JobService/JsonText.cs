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

    public const int MaxNumberDigits = 400;
    public static readonly string NumberRule =
        $"Numbers must take at most {MaxNumberDigits} digits written out in full (1e308 and 5e-324 do, 1e400 does not): PostgreSQL keeps them written out.";

    /// <summary>Why the database cannot store this JSON (a NUL, or half a surrogate pair, in a string or a name; a number too long written out), or null when it can.</summary>
    public static string? Unstorable(JsonElement e)
    {
        try { return Problem(e); }
        catch (InvalidOperationException) { return SurrogateRule; } // System.Text.Json will not make a string of half a pair, nor of bytes that are not UTF-8
    }

    /// <summary>The same for one value of a JSON node (a filter's leaf).</summary>
    public static string? Unstorable(System.Text.Json.Nodes.JsonValue value)
    {
        try
        {
            return value.GetValueKind() == JsonValueKind.Number ? (WrittenOut(value.ToJsonString()) > MaxNumberDigits ? NumberRule : null)
                : value.GetValue<string>().Contains('\0') ? NulRule : null;
        }
        catch (InvalidOperationException) { return SurrogateRule; }
    }

    static string? Problem(JsonElement e) => e.ValueKind switch
    {
        JsonValueKind.String => e.GetString()!.Contains('\0') ? NulRule : null,
        JsonValueKind.Number => TooLong(e) ? NumberRule : null,
        JsonValueKind.Object => e.EnumerateObject().Select(p => p.Name.Contains('\0') ? NulRule : Problem(p.Value)).FirstOrDefault(r => r is not null),
        JsonValueKind.Array => e.EnumerateArray().Select(Problem).FirstOrDefault(r => r is not null),
        _ => null,
    };

    /// <summary>A short number without an exponent is at most as long written out as it is (the usual case: nothing copied).</summary>
    static bool TooLong(JsonElement number) =>
        System.Runtime.InteropServices.JsonMarshal.GetRawUtf8Value(number) is var raw && (raw.Length > MaxNumberDigits || raw.IndexOfAny((byte)'e', (byte)'E') >= 0)
        && WrittenOut(number.GetRawText()) > MaxNumberDigits;

    /// <summary>
    /// How many digits a JSON number takes written out in full, as PostgreSQL's numeric (and so
    /// jsonb) writes it back: 1e5 is 6, 1.25e-3 is 6. A few bytes sent as 1e131000 come back as
    /// 131,001 digits (a payload of them took every read of the jobs table down), and some
    /// overflow numeric outright.
    /// </summary>
    static long WrittenOut(ReadOnlySpan<char> number)
    {
        var e = number.IndexOfAny('e', 'E');
        long exponent = 0;
        if (e >= 0 && !(long.TryParse(number[(e + 1)..], System.Globalization.NumberStyles.AllowLeadingSign, System.Globalization.CultureInfo.InvariantCulture,
                out exponent) && Math.Abs(exponent) <= 1_000_000)) return long.MaxValue;
        var mantissa = (e < 0 ? number : number[..e]).TrimStart('-');
        var point = mantissa.IndexOf('.');
        long whole = point < 0 ? mantissa.Length : point, fraction = point < 0 ? 0 : mantissa.Length - point - 1;
        return Math.Max(whole + exponent, 1) + Math.Max(fraction - exponent, 0);
    }

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

    /// <summary>
    /// The node as JSON text, with every NUL in its strings replaced by U+FFFD and every number too
    /// long written out kept as its text, in a string: a result is kept, whatever a model wrote in it.
    /// </summary>
    public static string ForStorage(JsonNode node)
    {
        var json = node.ToJsonString(JobJson.Options);
        using var document = JsonDocument.Parse(json);
        return Problem(document.RootElement) is null ? json : JsonSerializer.Serialize(Replace(document.RootElement), JobJson.Options);
    }

    static JsonNode? Replace(JsonElement e) => e.ValueKind switch
    {
        JsonValueKind.String => JsonValue.Create(e.GetString()!.Replace('\0', '\uFFFD')),
        JsonValueKind.Number when TooLong(e) => JsonValue.Create(e.GetRawText()),
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
        message = ConvertedTo().Replace(message, m => $"The value must be {Expected(FieldType(m.Groups["type"].Value, e.Path) ?? m.Groups["type"].Value)}.");
        message = UnmappedMember().Replace(message, " is not a known field.");
        message = DuplicateProperty().Replace(message, "The field '${name}' is given more than once.");
        return MissingRequired().Replace(message, "Required fields are missing: ${names}.");
    }

    /// <summary>The fields a "missing required properties" error names, as the client spells them; none for any other error.</summary>
    public static IReadOnlyList<string> MissingFields(JsonException e) => MissingRequired().Match(e.Message) is { Success: true } m
        ? m.Groups["names"].Value.Split(',', StringSplitOptions.TrimEntries).Select(n => n.Trim('\'')).ToList()
        : [];

    [GeneratedRegex(@"JSON deserialization for type '[^']*' was missing required properties,? including: (?<names>.*?)\.?( Path:.*)?$", RegexOptions.Singleline)]
    private static partial Regex MissingRequired();

    /// <summary>What a value of a .NET type is, in JSON's words ("System.Nullable`1[[System.Int32, System.Private.CoreLib, …]]": a whole number within its range).</summary>
    public static string Expected(string type) => type.Replace("System.", "").Replace("Nullable`1", "").Replace("Nullable<", "")
        .Split(',')[0].Trim('[', ']', '>') switch
    {
        "int" or "Int32" or "long" or "Int64" or "short" or "Int16" => "a whole number within its range",
        "double" or "Double" or "decimal" or "Decimal" or "float" or "Single" => "a number",
        "bool" or "Boolean" => "true or false",
        "string" or "String" => "a string",
        "Guid" => "a UUID",
        "DateTime" or "DateTimeOffset" => "a time in ISO 8601 (2026-12-05T10:00:00Z), within the years 0001 to 9999 in UTC",
        _ => "of the documented JSON type and form",
    };

    /// <summary>
    /// The .NET type at a JSON path ($.jobs[0].priority) below one of the service's records: a record
    /// whose constructor reads the value names itself in the error, not the field's type.
    /// </summary>
    static string? FieldType(string typeName, string? path)
    {
        var type = typeof(JsonText).Assembly.GetType(typeName);
        if (type is null || path is null) return null;
        foreach (Match segment in PathSegment().Matches(path))
        {
            type = segment.Groups["name"].Success
                ? type.GetProperties().FirstOrDefault(p => JsonNamingPolicy.SnakeCaseLower.ConvertName(p.Name) == segment.Groups["name"].Value)?.PropertyType
                : type.GetInterfaces().Append(type).FirstOrDefault(i => i.IsGenericType && i.GetGenericTypeDefinition() == typeof(IEnumerable<>))?.GetGenericArguments()[0];
            if (type is null) return null;
        }
        return (Nullable.GetUnderlyingType(type) ?? type).Name;
    }

    [GeneratedRegex(@"\.(?<name>[A-Za-z0-9_]+)|\[(?<index>[0-9]+)\]")]
    private static partial Regex PathSegment();

    [GeneratedRegex(@"The JSON value could not be converted to (?<type>[^ ]+)\.")]
    private static partial Regex ConvertedTo();

    [GeneratedRegex(@"Duplicate property '(?<name>[^']*)' encountered during deserialization of type '[^']*'\.")]
    private static partial Regex DuplicateProperty();

    [GeneratedRegex(@" could not be mapped to any \.NET member contained in type '[^']*'\.")]
    private static partial Regex UnmappedMember();
}
