using System.ComponentModel;
using System.Text.Json;

namespace JobService.Api;

/// <summary>
/// The body of <c>POST /jobs</c>. Fields are nullable so that a missing one is reported as a
/// field error with its name, not as an unreadable body.
/// </summary>
public sealed record CreateJobRequest(
    [property: Description("A registered job type; GET /job-types lists them.")] string? Type,
    [property: Description("The job's input: a JSON object valid against the type's payload schema.")] JsonElement? Payload = null,
    [property: Description("Higher runs first. Default 0, from -1000 to 1000.")] int? Priority = null,
    [property: Description("Not before this time (ISO 8601). Default: now.")] DateTimeOffset? RunAt = null,
    [property: Description("Attempts allowed, 1 to 100. Default: the type's.")] int? MaxAttempts = null,
    [property: Description("Where to POST a signed webhook when the job ends (Standard Webhooks; docs/webhooks.md): an absolute https URL (http too unless Webhooks:AllowHttp is off).")] string? CallbackUrl = null,
    [property: Description("Which webhooks to send: any of job.completed, job.failed, job.cancelled (the default: all three), job.started, job.retrying.")]
    IReadOnlyList<string>? CallbackEvents = null);
