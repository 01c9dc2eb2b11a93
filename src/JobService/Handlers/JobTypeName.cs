using System.Text.RegularExpressions;

namespace JobService.Handlers;

/// <summary>Job type names are identifiers: lower case, digits, '_', '.', '-'; at most 100 characters.</summary>
public static partial class JobTypeName
{
    public const string Rule = "lower-case letters, digits, '_', '.' or '-', starting with a letter, at most 100 characters";

    public static bool IsValid(string name) => Pattern().IsMatch(name);

    // \z, not $: in .NET, $ also matches before a final newline, so "echo\n" would pass.
    [GeneratedRegex(@"^[a-z][a-z0-9_.-]{0,99}\z")]
    private static partial Regex Pattern();
}
