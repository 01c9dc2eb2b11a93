using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;

namespace JobService.Api;

/// <summary>
/// A payload filter: an object whose leaves are strings, numbers or booleans, matched by
/// containment (<c>{"theme": "fantasy", "style": {"tone": "dark"}}</c>). In a query string each
/// leaf is a parameter, <c>payload.theme=fantasy&amp;payload.style.tone=dark</c>, whose value is a
/// JSON number, true or false when it reads as one, else the text (quote it, <c>"3"</c>, for the
/// string). Arrays and null are refused: PostgreSQL's containment and SQLite's path lookup would
/// not agree on them.
/// </summary>
public static partial class PayloadFilter
{
    public const string QueryPrefix = "payload.";
    public const int MaxLeaves = 10, MaxDepth = 4, MaxValueLength = 200;
    public const string Rule = "keys are letters, digits and '_' (starting with a letter or '_'); values are strings, numbers or booleans; " +
                               "at most 10 of them, 4 levels deep";

    /// <summary>The filter from a query string's payload.* parameters, or null when there are none; malformed names go to <paramref name="errors"/>.</summary>
    public static JsonObject? FromQuery(IEnumerable<KeyValuePair<string, Microsoft.Extensions.Primitives.StringValues>> query, List<string> errors)
    {
        JsonObject? filter = null;
        foreach (var (key, values) in query.Where(q => q.Key.StartsWith(QueryPrefix, StringComparison.Ordinal)))
        {
            var path = key[QueryPrefix.Length..].Split('.');
            if (values.Count != 1) { errors.Add($"{key.Clip(60)} is given {values.Count} times: give each payload field once."); continue; }
            if (!path.All(Key().IsMatch) || path.Length > MaxDepth) { errors.Add($"'{key.Clip(60)}' is not a payload path ({Rule})."); continue; }
            JsonObject? node = filter ??= new JsonObject();
            foreach (var step in path[..^1])
            {
                node[step] ??= new JsonObject();
                node = node[step] as JsonObject;
                if (node is null) break;
            }
            if (node is null || node.ContainsKey(path[^1]))
            {
                errors.Add($"{key.Clip(60)}: another payload parameter gives this path a value and fields at once.");
                continue;
            }
            node[path[^1]] = Value(values[0] ?? "");
        }
        return filter; // checked with the rest of the filter (JobFilter.Parse)
    }

    /// <summary>A filter given as a JSON object (the bulk endpoint's filter.payload): checked, or errors added.</summary>
    public static void Check(JsonObject filter, string at, List<string> errors) => Check(filter, at, 1, errors);

    static int Check(JsonObject node, string at, int depth, List<string> errors)
    {
        var leaves = 0;
        foreach (var (key, value) in node)
        {
            var path = $"{at}.{key}";
            if (!Key().IsMatch(key)) errors.Add($"'{path.Clip(60)}' is not a payload path ({Rule}).");
            else if (value is JsonObject child && depth < MaxDepth) leaves += Check(child, path, depth + 1, errors);
            else if (value is JsonValue v && v.GetValueKind() is JsonValueKind.String or JsonValueKind.Number or JsonValueKind.True or JsonValueKind.False)
            {
                leaves++;
                if (v.GetValueKind() is not (JsonValueKind.String or JsonValueKind.Number)) continue;
                if (JsonText.Unstorable(v) is { } rule) errors.Add($"{path}: {rule}"); // no stored payload has one; PostgreSQL refuses some in jsonb
                else if (v.GetValueKind() == JsonValueKind.String && v.GetValue<string>().Length > MaxValueLength) errors.Add($"{path}: at most {MaxValueLength} characters.");
            }
            else errors.Add($"{path}: {(value is null ? "null" : value.GetValueKind().ToString().ToLowerInvariant())} is not a filter value ({Rule}).");
        }
        if (depth == 1 && leaves > MaxLeaves) errors.Add($"{at}: {leaves} conditions; at most {MaxLeaves}.");
        if (depth == 1 && leaves == 0 && errors.Count == 0) errors.Add($"{at}: no condition (an empty filter matches every job: leave it out).");
        return leaves;
    }

    /// <summary>3, 2.5, true and false are JSON; "3" (quoted) is the string 3; anything else is the text as given.</summary>
    static JsonNode? Value(string text)
    {
        if (text is "true" or "false" || (text.Length > 0 && (char.IsAsciiDigit(text[0]) || text[0] == '-')) || text.StartsWith('"'))
        {
            try
            {
                var parsed = JsonNode.Parse(text);
                if (parsed is JsonValue) return parsed;
            }
            catch (JsonException) { } // not JSON: the text itself
        }
        return JsonValue.Create(text);
    }

    [GeneratedRegex(@"^[A-Za-z_][A-Za-z0-9_]{0,99}\z")]
    private static partial Regex Key();
}
