namespace JobService.Webhooks;

/// <summary>The webhook types a job may ask for in <c>callback_events</c>.</summary>
public static class WebhookTypes
{
    public const string Completed = "job.completed", Failed = "job.failed", Cancelled = "job.cancelled";
    public const string Started = "job.started", Retrying = "job.retrying";

    /// <summary>What a job with a callback_url and no callback_events gets: how it ended.</summary>
    public static readonly IReadOnlyList<string> Terminal = [Completed, Failed, Cancelled];

    public static readonly IReadOnlyList<string> All = [Completed, Failed, Cancelled, Started, Retrying];

    /// <summary>
    /// The webhook a transition calls for, if any: how it ended; started (claimed for an attempt);
    /// retrying (an attempt failed or lost its worker, or its worker handed it back, and the job
    /// will run again: a receiver told it started is told it did not finish, before the next start).
    /// </summary>
    public static string? Of(Transitions.AppliedChange change) => change switch
    {
        { Event: null } => null,
        { Event.Kind: Data.JobEventKinds.Completed } => Completed,
        { Event.Kind: Data.JobEventKinds.Failed } => Failed,
        { Event.Kind: Data.JobEventKinds.Cancelled } => Cancelled,
        { Event.Kind: Data.JobEventKinds.Status, Row: { Status: Data.JobStatus.Running, CancelRequested: false } } => Started,
        { Event.Kind: Data.JobEventKinds.Status, Event.Level: "warning", Row: { Status: Data.JobStatus.Pending, Error: not null } } => Retrying,
        { Event.Kind: Data.JobEventKinds.Status } when Transitions.JobTransitions.IsHandBack(change.Row) => Retrying,
        _ => null,
    };

    /// <summary>Whether a job's stored callback_events (space-separated; null: the terminal ones) asks for this type.</summary>
    public static bool Wanted(string? stored, string type) =>
        stored is null ? Terminal.Contains(type) : stored.Split(' ').Contains(type);

    /// <summary>
    /// <see cref="Wanted"/> as SQL over a jobs row (both providers), for a type a job must ask for
    /// (never wanted with callback_events null): whether it has a callback that wants it.
    /// </summary>
    public static string AskedForSql(string type) => !All.Contains(type) || Terminal.Contains(type)
        ? throw new ArgumentException($"{type} is not a type a job must ask for; this reads only callback_events.", nameof(type))
        : $"COALESCE(callback_url IS NOT NULL AND ' ' || callback_events || ' ' LIKE '% {type} %', FALSE)"; // types are exact names (JobSubmission)
}
