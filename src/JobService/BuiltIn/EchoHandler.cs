using System.ComponentModel;
using System.ComponentModel.DataAnnotations;
using JobService.Handlers;

namespace JobService.BuiltIn;

/// <summary>The payload of <c>echo</c>.</summary>
public sealed record EchoPayload(
    [property: Description("Returned as the result."), StringLength(10_000)] string? Text = null);

/// <summary>
/// Returns its payload at once. It exists to check a deployment end to end (submit, claim,
/// complete) and as the no-op job of the benchmarks; it does no pretend work.
/// </summary>
[JobType("echo", Description = "Returns payload.text as the result at once; for smoke tests and benchmarks.",
    TimeoutSeconds = 30, MaxAttempts = 1)]
public sealed class EchoHandler : JobHandler<EchoPayload>
{
    public override Task<object?> ExecuteAsync(EchoPayload payload, IJobContext context) =>
        Task.FromResult<object?>(new { text = payload.Text });
}
