using Microsoft.Extensions.Options;

namespace JobService.Hosting;

/// <summary>
/// A list setting given as one comma-separated value (<c>Webhooks__AllowedPorts=9000,9443</c>, as
/// an environment variable is most easily given) is that list. The configuration binder alone
/// takes a value where it expects a list for no list at all, and the setting was silently off.
/// </summary>
public static class ConfigLists
{
    /// <summary>The items of <paramref name="key"/>'s one value; null when it has none, or is given item by item (<c>key:0</c>).</summary>
    public static string[]? OneValue(IConfiguration configuration, string key) =>
        configuration[key] is { } value && !configuration.GetSection(key).GetChildren().Any()
            ? value.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries)
            : null;

    /// <summary><see cref="OneValue"/> as numbers; an item that is not one stops the start-up, naming the setting.</summary>
    public static List<int>? OneValueOfNumbers<TOptions>(IConfiguration configuration, string key) =>
        OneValue(configuration, key)?.Select(item => int.TryParse(item, out var n) ? n
            : throw new OptionsValidationException(key, typeof(TOptions), [$"{key} holds '{item.Clip(40)}', which is not a whole number."])).ToList();
}
