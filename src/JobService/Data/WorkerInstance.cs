namespace JobService.Data;

/// <summary>
/// A worker instance as its own heartbeat last wrote it. Whether it is lost is read from
/// <see cref="LastSeenAt"/> against its <see cref="HeartbeatSeconds"/>: a killed instance writes nothing more.
/// </summary>
public sealed class WorkerInstance
{
    /// <summary>The worker id its leases carry (jobs.locked_by).</summary>
    public required string Id { get; set; }
    public required string Host { get; set; }
    public required string Version { get; set; }
    /// <summary>Service:Role: all or worker.</summary>
    public required string Role { get; set; }
    /// <summary>active, or draining once it stops claiming on shutdown.</summary>
    public required string State { get; set; }
    public DateTime StartedAt { get; set; }
    public DateTime LastSeenAt { get; set; }
    public int HeartbeatSeconds { get; set; }
    public int Slots { get; set; }
    public int Busy { get; set; }
}
