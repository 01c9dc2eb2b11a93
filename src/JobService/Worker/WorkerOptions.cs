using System.ComponentModel.DataAnnotations;

namespace JobService.Worker;

/// <summary>The <c>Worker</c> section: how one worker process claims, leases and stops.</summary>
public sealed class WorkerOptions : IValidatableObject
{
    public const string Section = "Worker";

    /// <summary>Jobs one worker process runs at once (its slots).</summary>
    [Range(1, 10_000)] public int Concurrency { get; set; } = 10;

    /// <summary>Fallback poll when no wake-up arrives (LISTEN/NOTIFY or in-process signal).</summary>
    [Range(10, 600_000)] public int PollIntervalMs { get; set; } = 1_000;

    /// <summary>How long a claim holds a job without renewal; a crashed worker's jobs return after this.</summary>
    [Range(2, 86_400)] public int LeaseSeconds { get; set; } = 30;

    /// <summary>How often leases are renewed (and, on SQLite, cancel flags read), whatever the handler does.</summary>
    [Range(1, 3_600)] public int HeartbeatSeconds { get; set; } = 5;

    /// <summary>How often expired leases are looked for. Safe on every node at once.</summary>
    [Range(1, 3_600)] public int RescueIntervalSeconds { get; set; } = 10;

    /// <summary>Progress writes per job are coalesced to at most one per interval.</summary>
    [Range(10, 60_000)] public int ProgressIntervalMs { get; set; } = 500;

    /// <summary>On stop, running jobs get this long to finish before they are handed back.</summary>
    [Range(0, 3_600)] public int ShutdownGraceSeconds { get; set; } = 20;

    /// <summary>First retry delay; it doubles per attempt, with jitter, up to <see cref="RetryMaxSeconds"/>.</summary>
    [Range(0.001, 3_600)] public double RetryBaseSeconds { get; set; } = 2;

    [Range(0.001, 86_400)] public double RetryMaxSeconds { get; set; } = 600;

    /// <summary>A job whose worker was lost more often than this fails: it is likely the job that kills its workers.</summary>
    [Range(0, 1_000)] public int MaxRescues { get; set; } = 3;

    public IEnumerable<ValidationResult> Validate(ValidationContext context)
    {
        if (LeaseSeconds < 2 * HeartbeatSeconds)
            yield return new ValidationResult(
                $"Worker:LeaseSeconds ({LeaseSeconds}) must be at least twice Worker:HeartbeatSeconds ({HeartbeatSeconds}), " +
                "or a single late heartbeat loses the lease of a healthy job.", [nameof(LeaseSeconds)]);
        if (RetryMaxSeconds < RetryBaseSeconds)
            yield return new ValidationResult("Worker:RetryMaxSeconds must not be less than Worker:RetryBaseSeconds.", [nameof(RetryMaxSeconds)]);
    }
}
