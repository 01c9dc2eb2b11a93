namespace JobService.Data;

/// <summary>The lower-case names used in the database, on the wire and in raw SQL.</summary>
public static class JobStatusNames
{
    public const string Pending = "pending";
    public const string Running = "running";
    public const string Completed = "completed";
    public const string Failed = "failed";
    public const string Cancelled = "cancelled";

    public static readonly IReadOnlyList<string> All = [Pending, Running, Completed, Failed, Cancelled];

    public static string ToName(this JobStatus status) => status switch
    {
        JobStatus.Pending => Pending,
        JobStatus.Running => Running,
        JobStatus.Completed => Completed,
        JobStatus.Failed => Failed,
        JobStatus.Cancelled => Cancelled,
        _ => throw new ArgumentOutOfRangeException(nameof(status), status, null),
    };

    /// <summary>Parses a lower-case name only: "PENDING" is not a status.</summary>
    public static bool TryParse(string? name, out JobStatus status)
    {
        var index = name is null ? -1 : IndexOf(name);
        status = (JobStatus)Math.Max(index, 0);
        return index >= 0;
    }

    static int IndexOf(string name)
    {
        for (var i = 0; i < All.Count; i++)
            if (string.Equals(All[i], name, StringComparison.Ordinal)) return i;
        return -1;
    }
}
