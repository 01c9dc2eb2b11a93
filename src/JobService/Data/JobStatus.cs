namespace JobService.Data;

/// <summary>
/// The one status vocabulary. Stored, served and documented in lower case
/// (see <see cref="JobStatusNames"/>), never upper case.
/// </summary>
public enum JobStatus
{
    Pending,
    Running,
    Completed,
    Failed,
    Cancelled,
}
