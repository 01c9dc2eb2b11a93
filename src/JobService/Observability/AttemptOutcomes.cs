using JobService.Data;
using JobService.Transitions;

namespace JobService.Observability;

/// <summary>
/// What a committed change says about an attempt, read from the change itself: its event kind, the
/// status it left, and for the transitions that share a kind, the message JobTransitions' SQL
/// wrote (a rescue, a hand-back and POST /jobs/{id}/retry all put a job back to pending). Only a
/// timeout cannot be told from the row (it is written as an error), so the runner says so around
/// that write (<see cref="TimedOutAsync"/>). TransitionOutcomeTests drives every transition to pin this.
/// </summary>
public static class AttemptOutcomes
{
    public const string Success = "success", Error = "error", Retry = "retry", Cancelled = "cancelled",
        LeaseExpired = "lease_expired", Timeout = "timeout", HandedBack = "handed_back";

    // Messages from JobTransitions (RequeueAsync; CancelAsync's and HandBackAsync's are its constants).
    const string RequeuedMessage = "Queued for retry";

    static readonly AsyncLocal<bool> TimedOut = new();

    /// <summary>Runs the write of an attempt that timed out, so that the hook counts it as <see cref="Timeout"/>, not <see cref="Error"/> or <see cref="Retry"/>.</summary>
    public static async Task<T> TimedOutAsync<T>(Func<Task<T>> write)
    {
        TimedOut.Value = true; // flows into the transition and its hooks; gone when this method returns
        return await write();
    }

    /// <summary>A claim: the job became running for a new attempt (a cancel request also leaves it running, flagged).</summary>
    public static bool IsClaim(AppliedChange c) =>
        c.Event?.Kind == JobEventKinds.Status && c.Row.Status == JobStatus.Running && !c.Row.CancelRequested;

    /// <summary>How the attempt this change ended went, or null when it ended none (a create, a claim, progress, a cancel of a pending job, a requeue, a release).</summary>
    public static string? Of(AppliedChange c)
    {
        var row = c.Row;
        switch (c.Event?.Kind)
        {
            case JobEventKinds.Completed:
                return Success;
            case JobEventKinds.Failed:
                return LostWorker(row) ? LeaseExpired : TimedOut.Value ? Timeout : Error;
            case JobEventKinds.Cancelled:
                return row.Message is JobTransitions.CancelledBeforeStart or JobTransitions.CancelledWaitingToRunAgain ? null
                    : LostWorker(row) ? LeaseExpired : Cancelled;
            case JobEventKinds.Status when row.Status == JobStatus.Pending:
                if (row.Message is RequeuedMessage or JobTransitions.DueAgain) return null; // the attempt ended when it was handed back
                if (JobTransitions.IsHandBack(row)) return HandedBack;
                return LostWorker(row) ? LeaseExpired : TimedOut.Value ? Timeout : Retry;
            default:
                return null;
        }
    }

    /// <summary>The rescuer's messages: the lease ran out because the worker stopped renewing it.</summary>
    static bool LostWorker(JobRow row) => row.Message is { } m &&
        (m.EndsWith("its worker stopped", StringComparison.Ordinal) || m.StartsWith("Failed: it lost its worker ", StringComparison.Ordinal)
         || m == "Cancelled (its worker had stopped)");
}
