namespace JobService.Handlers;

/// <summary>
/// Names a handler's job type and its defaults. Each default can be overridden per type in
/// configuration (<c>Jobs:Types:{name}</c>).
/// </summary>
[AttributeUsage(AttributeTargets.Class, Inherited = false)]
public sealed class JobTypeAttribute(string name) : Attribute
{
    public string Name { get; } = name;
    public string? Description { get; init; }
    /// <summary>How long one attempt may run before it fails as timed out (retryable).</summary>
    public int TimeoutSeconds { get; init; } = JobTypeDefinition.DefaultTimeoutSeconds;
    /// <summary>Attempts allowed when the job does not say.</summary>
    public int MaxAttempts { get; init; } = JobTypeDefinition.DefaultMaxAttempts;
    /// <summary>How many jobs of this type one worker runs at once; 0 means only the worker's own limit.</summary>
    public int Concurrency { get; init; }
}
