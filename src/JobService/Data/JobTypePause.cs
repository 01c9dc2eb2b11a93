namespace JobService.Data;

/// <summary>A paused job type: no worker claims it until it is resumed or <see cref="PausedUntil"/> passes; running jobs go on.</summary>
public sealed class JobTypePause
{
    public required string Type { get; set; }
    /// <summary>Null: until resumed.</summary>
    public DateTime? PausedUntil { get; set; }
    public DateTime PausedAt { get; set; }
    /// <summary>Who paused it: an API key's prefix, or "anonymous" with auth off.</summary>
    public required string PausedBy { get; set; }
}
