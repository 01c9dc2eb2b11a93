using System.ComponentModel.DataAnnotations;

namespace JobService.Worker;

/// <summary>The <c>Retention</c> section: how long finished jobs are kept. 0 keeps them forever.</summary>
public sealed class RetentionOptions
{
    public const string Section = "Retention";

    /// <summary>False stops the background cleaner on this node (clean from fewer nodes, or with your own tooling).</summary>
    public bool Enabled { get; set; } = true;
    [Range(0, 1_000_000)] public double CompletedHours { get; set; } = 24 * 7;
    [Range(0, 1_000_000)] public double FailedHours { get; set; } = 24 * 30;
    [Range(0, 1_000_000)] public double CancelledHours { get; set; } = 24 * 7;
    [Range(1, 86_400)] public int IntervalSeconds { get; set; } = 300;
    /// <summary>Rows deleted per statement, so that a large backlog never holds long locks.</summary>
    [Range(1, 100_000)] public int BatchSize { get; set; } = 1_000;
}
