using System.Collections.Concurrent;
using JobService.Handlers;

namespace JobService.Tests.Infrastructure;

public sealed record ScriptedPayload(string Key);

/// <summary>
/// A handler whose behaviour each test writes inline: the payload's key names a script the
/// test registered with <see cref="Scripts"/>. Every run is counted.
/// </summary>
[JobType("scripted", TimeoutSeconds = 60, MaxAttempts = 3)]
public sealed class ScriptedHandler : JobHandler<ScriptedPayload>
{
    public override Task<object?> ExecuteAsync(ScriptedPayload payload, IJobContext context)
    {
        Scripts.Runs.AddOrUpdate(payload.Key, 1, (_, n) => n + 1);
        return Scripts.All.TryGetValue(payload.Key, out var script)
            ? script(context)
            : throw new InvalidOperationException($"No script '{payload.Key}'.");
    }
}

public static class Scripts
{
    public static readonly ConcurrentDictionary<string, Func<IJobContext, Task<object?>>> All = new();
    public static readonly ConcurrentDictionary<string, int> Runs = new();

    /// <summary>Registers a script under a fresh key and returns the key.</summary>
    public static string Add(Func<IJobContext, Task<object?>> script)
    {
        var key = Guid.NewGuid().ToString("N");
        All[key] = script;
        return key;
    }

    public static int RunsOf(string key) => Runs.GetValueOrDefault(key);

    public static object Job(string key, int? maxAttempts = null) => maxAttempts is null
        ? new { type = "scripted", payload = new { key } }
        : new { type = "scripted", payload = new { key }, max_attempts = maxAttempts };

}
