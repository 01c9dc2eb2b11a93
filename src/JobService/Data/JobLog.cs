namespace JobService.Data;

/// <summary>
/// One log line of a job. <see cref="Id"/> is the sequence number clients page with
/// (<c>after</c>): it only grows, so "oldest first" is "by id".
/// </summary>
public sealed class JobLog
{
    public long Id { get; set; }
    public Guid JobId { get; set; }
    public DateTime Time { get; set; }
    public required string Level { get; set; }
    public required string Message { get; set; }
    public int Attempt { get; set; }
}
