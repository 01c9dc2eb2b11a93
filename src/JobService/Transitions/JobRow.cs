using System.Data.Common;
using System.Globalization;
using JobService.Data;
using Microsoft.Data.Sqlite;

namespace JobService.Transitions;

/// <summary>
/// A job as a transition left it: what every transition's <c>RETURNING</c> hands back, so that
/// C# always knows the resulting status (and <see cref="EventSeq"/>, the seq of the event the
/// transition appended), and whether it has a callback_url, so that webhooks cost nothing for jobs
/// without one. A claim's rows say so only for the jobs whose claim calls a webhook
/// (<see cref="FairClaim.CallsStarted"/>): the others cost nothing at their claim either.
/// </summary>
public sealed record JobRow(
    Guid Id, string Type, JobStatus Status, int Attempt, int MaxAttempts, long EventSeq, bool CancelRequested,
    int Progress, string? Message, string? Error, DateTime RunAt, DateTime? StartedAt, DateTime? CompletedAt, string? LockedBy,
    bool HasCallback)
{
    /// <summary>The columns every transition returns, in the order <see cref="Read"/> reads them.</summary>
    public const string Columns =
        "id, type, status, attempt, max_attempts, event_seq, cancel_requested, progress, message, error, run_at, started_at, completed_at, locked_by, " +
        "callback_url IS NOT NULL";

    public static JobRow Read(DbDataReader r) => new(
        r.GetGuid(0), r.GetString(1), ParseStatus(r.GetString(2)), r.GetInt32(3), r.GetInt32(4), r.GetInt64(5), r.GetBoolean(6),
        r.GetInt32(7), Text(r, 8), Text(r, 9), Utc(r, 10), Time(r, 11), Time(r, 12), Text(r, 13), r.GetBoolean(14));

    /// <summary>A job as a claim left it, from the few columns the claim returns (the rest it set itself).</summary>
    public static JobRow Claimed(Guid id, string type, int attempt, int maxAttempts, long eventSeq, DateTime runAt, bool callsWebhook, ClaimRequest claim) =>
        new(id, type, JobStatus.Running, attempt, maxAttempts, eventSeq, false, 0, "Running", null, Utc(runAt), claim.Now, null, claim.WorkerId, callsWebhook);

    /// <summary>A job as a completion left it, from the few columns the completion returns.</summary>
    public static JobRow Completed(JobLease lease, string type, int maxAttempts, long eventSeq, DateTime startedAt, bool hasCallback, DateTime now) =>
        new(lease.JobId, type, JobStatus.Completed, lease.Attempt, maxAttempts, eventSeq, false, 100, "Completed", null, default,
            Utc(startedAt), now, null, hasCallback);

    public bool IsFinished => Status is JobStatus.Completed or JobStatus.Failed or JobStatus.Cancelled;

    internal static DateTime Utc(DateTime t) => DateTime.SpecifyKind(t, DateTimeKind.Utc); // SQLite hands text back without a kind

    // Column readers for the statements that read jobs by hand (here, the drivers, Api.JobById): nulls as null, times as UTC.
    internal static DateTime Utc(DbDataReader r, int i) => Utc(r is SqliteDataReader ? SqliteTime(r, i) : r.GetDateTime(i));
    internal static DateTime? Time(DbDataReader r, int i) => r.IsDBNull(i) ? null : Utc(r, i);
    internal static string? Text(DbDataReader r, int i) => r.IsDBNull(i) ? null : r.GetString(i);

    /// <summary>
    /// SQLite keeps a time as text, in EF Core's format, which the service's own SQL writes too.
    /// Microsoft.Data.Sqlite reads it with the general DateTime.Parse, about 2 % of a SQLite drain's
    /// CPU (docs/benchmarks.md); it is read here with that one format, the general reading kept for
    /// anything else.
    /// </summary>
    static DateTime SqliteTime(DbDataReader r, int i) =>
        DateTime.TryParseExact(r.GetString(i), "yyyy-MM-dd HH:mm:ss.FFFFFFF", CultureInfo.InvariantCulture, DateTimeStyles.None, out var t) ? t : r.GetDateTime(i);

    internal static JobStatus ParseStatus(string name) =>
        JobStatusNames.TryParse(name, out var status) ? status : throw new InvalidOperationException($"Unknown job status '{name}' in the database.");
}
