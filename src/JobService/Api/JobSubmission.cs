using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using JobService.Data;
using JobService.Handlers;

namespace JobService.Api;

/// <summary>
/// Turns a <see cref="CreateJobRequest"/> into a new <see cref="Job"/> row, or into field
/// errors: the type must be registered and the payload valid for it, so that a bad job is a
/// 400 at submit time rather than a failed job later.
/// </summary>
public static class JobSubmission
{
    public const int MaxPriority = 1000;
    public const int MaxAttemptsLimit = 100;

    // Npgsql stores DateTime.MinValue and MaxValue as -infinity and infinity, which no later
    // arithmetic takes (the dashboard's queue-wait percentiles failed on one such job for a month).
    static readonly DateTimeOffset EarliestRunAt = DateTimeOffset.UnixEpoch, LatestRunAt = new(9999, 12, 31, 0, 0, 0, TimeSpan.Zero);

    public static (Job? Job, Dictionary<string, string[]> Errors) Validate(
        CreateJobRequest request, JobTypeRegistry registry, Webhooks.WebhooksOptions webhooks, DateTime now, string prefix = "")
    {
        now = ToMicroseconds(now);
        var errors = new Dictionary<string, string[]>();
        void Add(string field, string message) => errors[prefix + field] = [message];

        JobTypeDefinition? type = null;
        if (string.IsNullOrWhiteSpace(request.Type))
            Add("type", $"The job type is required. Known types: {string.Join(", ", registry.Names)}.");
        else if ((type = registry.Find(request.Type)) is null)
            Add("type", $"Unknown job type '{request.Type.Clip(100)}'. Known types: {string.Join(", ", registry.Names)}.");

        var payload = request.Payload ?? JsonDocument.Parse("{}").RootElement;
        if (JsonText.Unstorable(payload) is { } rule)
            Add("payload", rule);
        else if (type is not null)
            foreach (var (field, messages) in type.ValidatePayload(payload))
                errors[prefix + field] = messages;

        if (request.Priority is < -MaxPriority or > MaxPriority)
            Add("priority", $"The priority must be between -{MaxPriority} and {MaxPriority}.");
        if (request.RunAt is { } runAt && (runAt < EarliestRunAt || runAt >= LatestRunAt))
            Add("run_at", "run_at must be from 1970-01-01 to 9999-12-30 (UTC).");
        if (request.MaxAttempts is < 1 or > MaxAttemptsLimit)
            Add("max_attempts", $"max_attempts must be between 1 and {MaxAttemptsLimit}.");
        if (request.CallbackUrl is { } url && Webhooks.CallbackUrls.Problem(url, webhooks) is { } urlProblem)
            Add("callback_url", urlProblem);
        if (request.CallbackEvents is { } kinds)
        {
            if (request.CallbackUrl is null) Add("callback_events", "callback_events needs a callback_url to send them to.");
            else if (kinds.Count == 0 || kinds.Any(k => !Webhooks.WebhookTypes.All.Contains(k)))
                Add("callback_events", $"callback_events takes one or more of {string.Join(", ", Webhooks.WebhookTypes.All)}.");
        }

        if (errors.Count > 0 || type is null) return (null, errors);
        var job = new Job
        {
            Id = Observability.JobIds.New(),
            Type = type.Name,
            Status = JobStatus.Pending,
            Payload = payload.GetRawText(),
            Priority = request.Priority ?? 0,
            MaxAttempts = request.MaxAttempts ?? type.MaxAttempts,
            RunAt = request.RunAt is { } at ? ToMicroseconds(at.UtcDateTime) : now,
            CallbackUrl = request.CallbackUrl,
            CallbackEvents = request.CallbackEvents is { } events ? string.Join(' ', events.Distinct()) : null,
            Message = "Waiting for a worker",
            CreatedAt = now,
            UpdatedAt = now,
        };
        return (job, errors);
    }

    /// <summary>
    /// A time as the database keeps it (PostgreSQL: microseconds): the 201 answers the job with the
    /// times every later read will, an idempotent replay's included.
    /// </summary>
    static DateTime ToMicroseconds(DateTime t) => new(t.Ticks - t.Ticks % 10, t.Kind);

    /// <summary>
    /// What "the same request" means for an Idempotency-Key: the same fields, compactly serialized.
    /// Stored only with a key (nothing compares it otherwise, and a batch hashes itself once).
    /// </summary>
    public static string Hash(object request)
    {
        var canonical = JsonSerializer.Serialize(request, JobJson.Options);
        return Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(canonical)));
    }


}
