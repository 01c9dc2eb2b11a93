namespace JobService.Transitions;

/// <summary>
/// A job a transition changed, as it now stands, with the event it appended (none for a delete).
/// An event its statement's SQL wrote itself (created, claimed, completed) comes with its kind and
/// level only (<see cref="Story.StoredBySql"/>): its line and data are in the database.
/// </summary>
public sealed record AppliedChange(JobRow Row, Data.JobEvent? Event);

/// <summary>
/// Called inside the transaction where a transition was applied, after the rows changed and
/// their events were appended (Hangfire's IApplyStateFilter): the place an outbox row, a metric
/// or a notification hangs from, once, whatever the transition. Whatever it writes commits or
/// rolls back with the change; work that must wait for the commit goes in
/// <see cref="TransitionTx.AfterCommit"/>.
/// </summary>
public interface IJobTransitionHook
{
    Task OnAppliedAsync(TransitionTx tx, IReadOnlyList<AppliedChange> changes, CancellationToken ct);

    /// <summary>
    /// Whether <see cref="OnAppliedAsync"/> may write to the database for changes whose
    /// <see cref="JobRow.HasCallback"/> is false (a job without a callback_url; at a claim, a job
    /// whose claim calls no webhook, though it may have a callback_url). When no hook may, such
    /// changes can be one statement that commits by itself (<see cref="JobTransitions.CompleteAsync"/>,
    /// <see cref="JobTransitions.ClaimAsync"/>, <see cref="JobTransitions.CreateAsync"/>): the
    /// hooks still run, with nothing left to roll back. Yes unless a hook says otherwise.
    /// </summary>
    bool MayWriteWithoutCallback => true;
}
