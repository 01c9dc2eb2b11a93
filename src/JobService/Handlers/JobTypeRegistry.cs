namespace JobService.Handlers;

/// <summary>
/// The registered job types by name. Built once at start-up from every
/// <see cref="JobTypeDefinition"/> in DI; two types with one name stop the start-up.
/// </summary>
public sealed class JobTypeRegistry
{
    readonly Dictionary<string, JobTypeDefinition> _types;

    public JobTypeRegistry(IEnumerable<JobTypeDefinition> definitions, IConfiguration configuration)
    {
        _types = new Dictionary<string, JobTypeDefinition>(StringComparer.Ordinal);
        foreach (var declared in definitions)
        {
            if (!JobTypeName.IsValid(declared.Name))
                throw new Hosting.StartupRefusedException($"'{declared.Name}' is not a valid job type name: {JobTypeName.Rule}.");
            var definition = WithOverrides(declared, configuration.GetSection($"Jobs:Types:{declared.Name}"));
            if (!_types.TryAdd(definition.Name, definition))
                throw new Hosting.StartupRefusedException(
                    $"Two job handlers declare the type '{definition.Name}'. Each type name must be registered once.");
        }
        // A misspelt type's settings would otherwise do nothing, silently; so would a misspelt Types.
        if (Hosting.KnownSettings.Unknown(configuration.GetSection("Jobs"), "Types") is { } stray)
            throw new Hosting.StartupRefusedException(stray);
        foreach (var section in configuration.GetSection("Jobs:Types").GetChildren())
            if (!_types.ContainsKey(section.Key))
                throw new Hosting.StartupRefusedException(
                    $"{section.Path}: there is no job type '{section.Key}'. Types: {string.Join(", ", _types.Keys.Order(StringComparer.Ordinal))}.");
    }

    /// <summary>Configuration (<c>Jobs:Types:{name}:TimeoutSeconds</c> and so on) wins over the code's defaults.</summary>
    static JobTypeDefinition WithOverrides(JobTypeDefinition d, IConfigurationSection section)
    {
        if (Hosting.KnownSettings.Unknown(section, nameof(d.TimeoutSeconds), nameof(d.MaxAttempts), nameof(d.Concurrency)) is { } stray)
            throw new Hosting.StartupRefusedException(stray);
        var result = d with
        {
            TimeoutSeconds = section.GetValue(nameof(d.TimeoutSeconds), d.TimeoutSeconds),
            MaxAttempts = section.GetValue(nameof(d.MaxAttempts), d.MaxAttempts),
            Concurrency = section.GetValue(nameof(d.Concurrency), d.Concurrency),
        };
        if (result.TimeoutSeconds < 1 || result.MaxAttempts < 1 || result.Concurrency < 0)
            throw new Hosting.StartupRefusedException(
                $"{section.Path}: TimeoutSeconds and MaxAttempts must be at least 1 and Concurrency at least 0 " +
                $"(got {result.TimeoutSeconds}, {result.MaxAttempts}, {result.Concurrency}).");
        return result;
    }

    public IReadOnlyCollection<JobTypeDefinition> All => _types.Values;

    public IEnumerable<string> Names => _types.Keys.Order(StringComparer.Ordinal);

    public JobTypeDefinition? Find(string name) => _types.GetValueOrDefault(name);
}
