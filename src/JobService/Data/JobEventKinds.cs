namespace JobService.Data;

/// <summary>The kinds of <see cref="JobEvent"/>: also the SSE event names.</summary>
public static class JobEventKinds
{
    public const string Created = "created";
    /// <summary>Every status change that does not end the job, a retry scheduled, a cancel requested.</summary>
    public const string Status = "status";
    public const string Progress = "progress";
    public const string Log = "log";
    public const string Usage = "usage";
    /// <summary>LLM partial text: {attempt, offset, text}.</summary>
    public const string Output = "output";
    public const string Completed = "completed";
    public const string Failed = "failed";
    public const string Cancelled = "cancelled";
    /// <summary>Not stored: the whole job, sent first on a fresh stream or after a compacted range.</summary>
    public const string Snapshot = "snapshot";

    public static bool IsTerminal(string kind) => kind is Completed or Failed or Cancelled;

    public static string Terminal(JobStatus status) => status switch
    {
        JobStatus.Completed => Completed,
        JobStatus.Failed => Failed,
        JobStatus.Cancelled => Cancelled,
        _ => Status,
    };
}
