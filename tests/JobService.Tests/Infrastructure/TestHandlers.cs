using System.ComponentModel.DataAnnotations;
using JobService.Handlers;
using Microsoft.Extensions.DependencyInjection;

namespace JobService.Tests.Infrastructure;

/// <summary>Handlers the tests register, as a handler author would.</summary>
public static class TestHandlers
{
    public static void Register(IServiceCollection services)
    {
        services.AddJobHandler<GreetHandler>();
        services.AddJobHandler<ScriptedHandler>();
    }
}

public sealed record GreetPayload(
    [property: Required, StringLength(50, MinimumLength = 1)] string Name,
    [property: Range(1, 10)] int Times = 1,
    string[]? Tags = null);

/// <summary>A payload with required, ranged and typed fields, to test validation at submit.</summary>
[JobType("greet", Description = "Greets someone, a number of times.", TimeoutSeconds = 60, MaxAttempts = 4, Concurrency = 2)]
public sealed class GreetHandler : JobHandler<GreetPayload>
{
    public override async Task<object?> ExecuteAsync(GreetPayload payload, IJobContext context)
    {
        await context.LogAsync(JobLogLevel.Info, $"Greeting {payload.Name}");
        return new { greeting = string.Join(" ", Enumerable.Repeat($"Hello, {payload.Name}!", payload.Times)) };
    }
}
