namespace JobService.Data;

/// <summary>
/// One entry of a job's event log: <see cref="Seq"/> is per job, gap-free and in commit order,
/// taken from <see cref="Job.EventSeq"/> by the transition that wrote it, under the job row's
/// lock. An event with a <see cref="Message"/> is also a line of the job's log (GET
/// /jobs/{id}/logs): a <c>log</c> event always, and a lifecycle event when it tells the job's
/// story ("Claimed by worker … for attempt 1 of 3").
/// </summary>
public sealed class JobEvent
{
    public Guid JobId { get; set; }
    public long Seq { get; set; }
    /// <summary>See <see cref="JobEventKinds"/>.</summary>
    public required string Kind { get; set; }
    /// <summary>info, warning or error, when the event is a log line.</summary>
    public string? Level { get; set; }
    public string? Message { get; set; }
    /// <summary>The kind's fields as snake_case JSON (job_id, seq and at are added when sent).</summary>
    public string? Data { get; set; }
    public DateTime CreatedAt { get; set; }
}
