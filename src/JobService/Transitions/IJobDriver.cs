using System.Data.Common;
using JobService.Data;

namespace JobService.Transitions;

/// <summary>
/// Everything that differs between SQLite and PostgreSQL, one implementation per provider
/// (River's driver, in miniature): the statements whose SQL cannot be written once (the claim,
/// the batched completion, lists of ids, the event insert), how values bind, and listen/notify.
/// The statements that read the same in both dialects are in <see cref="JobTransitions"/>.
/// </summary>
public interface IJobDriver
{
    /// <summary>
    /// Claims due pending jobs in one statement: marks them running with this worker's lease,
    /// spends an attempt, takes one event seq, appends the claimed events (<see cref="Story.ClaimedTemplate"/>:
    /// the worker's busiest transition writes its own, with no second round trip and no event JSON
    /// sent), and returns them with their payload. No job is ever returned to two claimers.
    /// With <see cref="ClaimRequest.RefuseWebhookCalls"/>, says whether it took nothing because it refused.
    /// </summary>
    Task<ClaimResult> ClaimAsync(TransitionTx tx, ClaimRequest request, CancellationToken ct);

    /// <summary>The claim's command text as it runs for this request (one instance per shape, <see cref="ClaimStatements"/>), for reading and for a test to print.</summary>
    string ClaimSql(ClaimRequest request);

    /// <summary>
    /// Marks many jobs completed, each only if the lease in its <see cref="Completion"/> still
    /// holds, and appends their completed events (<see cref="Story.CompletedTemplate"/>, as the
    /// claim does). Returns the rows actually written.
    /// </summary>
    Task<IReadOnlyList<JobRow>> CompleteAsync(TransitionTx tx, IReadOnlyList<Completion> completions, CancellationToken ct);

    /// <summary>
    /// True when <see cref="ClaimAsync"/>, <see cref="CompleteAsync"/> and <see cref="InsertJobsAsync"/>
    /// are each one round trip that is atomic on its own, their events included (PostgreSQL: each is
    /// one statement, a data-modifying CTE), so that each may run outside a transaction and commit
    /// by itself. SQLite's write their events in a second statement (and the completion an update
    /// per row), which need their transaction.
    /// </summary>
    bool WritesCommitAlone { get; }

    /// <summary>
    /// Writes what running jobs report (<see cref="RunningWrite"/>), each only if its lease still
    /// holds: progress moves up only, a null message keeps the last, updated_at moves with progress
    /// (not with text), and the event seq takes one per event the write appends. Returns the rows
    /// written (<see cref="JobRow.Columns"/>, their seq the last taken); the caller appends the events.
    /// </summary>
    Task<IReadOnlyList<JobRow>> WriteRunningAsync(TransitionTx tx, IReadOnlyList<RunningWrite> writes, CancellationToken ct);

    /// <summary>
    /// Extends the leases this worker holds among <paramref name="ids"/>; returns those it renewed.
    /// With <paramref name="skipBusy"/> it passes over rows another transaction holds locked
    /// (PostgreSQL: they are neither renewed nor returned) instead of waiting for them.
    /// </summary>
    Task<IReadOnlyList<HeldJob>> RenewLeasesAsync(TransitionTx tx, string workerId, IReadOnlyCollection<Guid> ids, DateTime until, CancellationToken ct,
        bool skipBusy = false);

    /// <summary>
    /// Inserts new jobs in one statement (a batch from arrays on PostgreSQL, from one JSON array on
    /// SQLite): what a submit sets (id, tenant, type, status, message, payload, priority, max
    /// attempts, run_at, callback, times, idempotency key and hash, trace parent, event seq, all
    /// times UTC); progress, attempt, rescue count and the cancel flag are written as 0, and
    /// everything an attempt fills in later (result, error, lease, usage) as NULL, whatever the
    /// <see cref="Job"/> holds. A duplicate Idempotency-Key throws <see cref="DuplicateJobException"/>.
    /// Their created events are appended by the same statement on PostgreSQL (a data-modifying CTE),
    /// by a second one on SQLite, worded by SQL from the stored rows (<see cref="Story.CreatedTemplate"/>,
    /// <paramref name="source"/> filling its <c>%s</c>), with no event JSON sent for each job. The jobs may be several submits' (a group commit): their
    /// tenants, times, request hashes and trace parents may differ.
    /// Returns true when the statement also notified every node of the new jobs and of their created
    /// events at its commit (PostgreSQL, <see cref="PostgresNotifier.TryCarryWakeUp"/>): the caller then
    /// publishes <see cref="Notice.JobsAvailable"/> and <see cref="Notice.EventsAppended"/> with SentWithCommit.
    /// </summary>
    Task<bool> InsertJobsAsync(TransitionTx tx, IReadOnlyList<Job> jobs, string source, CancellationToken ct);

    /// <summary>Appends events in one statement: PostgreSQL unnests arrays, SQLite unpacks one JSON array (json_each).</summary>
    Task InsertEventsAsync(TransitionTx tx, IReadOnlyList<JobEvent> events, CancellationToken ct);

    /// <summary>
    /// Serialises submits of one tenant until the transaction ends, so that counting its active
    /// jobs and inserting new ones is one decision (the quota). SQLite has one writer already.
    /// </summary>
    Task LockTenantAsync(TransitionTx tx, string tenant, CancellationToken ct);

    /// <summary>Binds a value as the column it is compared with expects (SQLite stores ids as upper-case text).</summary>
    void Bind(DbCommand command, string name, object? value);

    /// <summary>"id is one of @<paramref name="parameter"/>" in this dialect; bind the list as <see cref="Ids"/> makes it.</summary>
    string IdIn(string parameter, string column = "id");

    /// <summary>
    /// The end of an UPDATE (or, with <paramref name="delete"/>, a DELETE) of jobs that reaches the
    /// ids listed in @<paramref name="parameter"/> (bound as <see cref="Ids"/> makes it) that are in
    /// one of <paramref name="states"/> (SQL literals: <c>'failed', 'cancelled'</c>): its FROM (or
    /// USING) and WHERE. The rows are found by id whatever the statistics say of the states.
    /// </summary>
    string ListedIn(string parameter, string states, bool delete = false);

    /// <summary>A list of ids as <see cref="IdIn"/> reads it: uuid[] on PostgreSQL, a JSON array of id text on SQLite.</summary>
    object Ids(IEnumerable<Guid> ids);

    /// <summary>
    /// Called before a transition's transaction begins; disposing the answer ends it. SQLite has
    /// one writer: its driver queues this process's write transactions here, in memory, rather
    /// than let them collide on the file lock and sleep in SQLite's busy handler.
    /// </summary>
    ValueTask<IDisposable?> BeginWriteAsync(CancellationToken ct);

    /// <summary>
    /// Runs a read (the GET endpoints), again if it meets a transient failure: on PostgreSQL a
    /// reset connection, a terminated backend, a failover; SQLite has its busy timeout instead.
    /// The whole read runs again, so a query may stream its rows (EF Core's retrying strategy
    /// buffers every result set for its own retries: GET /jobs/{id} served 0.6 as many requests).
    /// Writes are not retried blindly: one that fails on an outage is a 503, since its commit may
    /// or may not have happened.
    /// </summary>
    Task<T> ReadAsync<T>(Func<CancellationToken, Task<T>> read, CancellationToken ct);

    /// <summary>
    /// What a claim's inner SELECT ends with so that concurrent claimers pass over each other's
    /// rows: <c>FOR UPDATE SKIP LOCKED</c> on PostgreSQL; nothing on SQLite, whose single writer
    /// runs claims one after the other.
    /// </summary>
    string SkipLocked { get; }

    /// <summary>Listen and notify: a real channel on PostgreSQL, in-process on SQLite.</summary>
    IJobNotifier Notifier { get; }
}

/// <summary>An insert met a job that is already there: another request with the same Idempotency-Key committed first.</summary>
public sealed class DuplicateJobException(Exception inner) : Exception("A job with this Idempotency-Key was stored first by another request.", inner);
