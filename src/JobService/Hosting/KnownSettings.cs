using System.Reflection;
using Microsoft.Extensions.Options;

namespace JobService.Hosting;

/// <summary>
/// A key in one of the service's sections that nothing reads (<c>Worker:Concurency</c>,
/// <c>Jobs:Types:echo:Timeout</c>) stops the start-up with one line naming it and what its section
/// takes: a typo was silently the default. Other top-level sections (ASP.NET's, Serilog's) are theirs.
/// </summary>
public static class KnownSettings
{
    /// <summary>
    /// Refuses keys under <paramref name="section"/> that none of <typeparamref name="T"/>'s settings
    /// reads (<paramref name="readElsewhere"/>: keys other code reads). The binding itself stays at
    /// the call site, BindConfiguration(section) on the named type: the build generates it there
    /// (EnableConfigurationBindingGenerator), and cannot for a type parameter such as this one.
    /// </summary>
    public static OptionsBuilder<T> RefuseUnknownKeys<T>(this OptionsBuilder<T> options, string section, params string[] readElsewhere) where T : class
    {
        options.Services.AddSingleton<IValidateOptions<T>>(sp => new Check<T>(sp.GetRequiredService<IConfiguration>().GetSection(section), readElsewhere));
        return options;
    }

    /// <summary>What is wrong with the first key under <paramref name="section"/> that <paramref name="type"/> does not read, through nested settings; null when none.</summary>
    public static string? Unknown(IConfigurationSection section, Type type, IReadOnlyCollection<string>? readElsewhere = null)
    {
        var properties = type.GetProperties(BindingFlags.Public | BindingFlags.Instance)
            .Where(p => (p.CanWrite || IsCollection(p.PropertyType)) && !p.IsDefined(typeof(NotASettingAttribute))).ToList();
        foreach (var child in section.GetChildren())
        {
            if (readElsewhere?.Contains(child.Key, StringComparer.OrdinalIgnoreCase) == true) continue;
            var property = properties.FirstOrDefault(p => p.Name.Equals(child.Key, StringComparison.OrdinalIgnoreCase));
            if (property is null) return Refusal(child, properties.Select(p => p.Name).Concat(readElsewhere ?? []));
            if (Inner(child, property.PropertyType) is { } deeper) return deeper;
        }
        return null;
    }

    /// <summary>For a section read by hand: the first key not among <paramref name="names"/>, worded as a refusal; null when none.</summary>
    public static string? Unknown(IConfigurationSection section, params string[] names) =>
        section.GetChildren().FirstOrDefault(c => !names.Contains(c.Key, StringComparer.OrdinalIgnoreCase)) is { } stray ? Refusal(stray, names) : null;

    static string? Inner(IConfigurationSection section, Type type)
    {
        type = Nullable.GetUnderlyingType(type) ?? type;
        if (!section.GetChildren().Any()) return null; // a value
        if (IsCollection(type))
        {
            var element = type.IsArray ? type.GetElementType()! : type.GetGenericArguments()[^1]; // a list's item, a dictionary's value
            return section.GetChildren().Select(child => Inner(child, element)).FirstOrDefault(refusal => refusal is not null);
        }
        // .NET's own types (a JsonNode, a TimeSpan) are filled whole; the service's settings are walked.
        return type.Namespace?.StartsWith("JobService", StringComparison.Ordinal) == true ? Unknown(section, type) : null;
    }

    static bool IsCollection(Type type) => type.IsArray || (type.IsGenericType && type.Namespace == "System.Collections.Generic");

    static string Refusal(IConfigurationSection key, IEnumerable<string> known)
    {
        var parent = key.Path[..key.Path.LastIndexOf(':')];
        return $"{key.Path} is not a setting: {parent} takes {string.Join(", ", known.Order(StringComparer.Ordinal))}.";
    }

    sealed class Check<T>(IConfigurationSection section, string[] readElsewhere) : IValidateOptions<T> where T : class
    {
        public ValidateOptionsResult Validate(string? name, T options) =>
            Unknown(section, typeof(T), readElsewhere) is { } refusal ? ValidateOptionsResult.Fail(refusal) : ValidateOptionsResult.Success;
    }
}

/// <summary>A settings class's property that is filled from elsewhere (DatabaseOptions.ConnectionString, from ConnectionStrings:Jobs), not from its section.</summary>
[AttributeUsage(AttributeTargets.Property)]
public sealed class NotASettingAttribute : Attribute;
