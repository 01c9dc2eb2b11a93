namespace JobService.Transitions;

/// <summary>What one node tells every node (or, on SQLite, itself): hints, never the truth, which is the table.</summary>
public abstract record Notice
{
    /// <summary>
    /// Jobs became due: idle workers should claim. <paramref name="SentWithCommit"/>: the write's
    /// own statement already notified every node (<see cref="PostgresNotifier.TryCarryWakeUp"/>), so
    /// only this node's subscribers are told.
    /// </summary>
    public sealed record JobsAvailable(bool SentWithCommit = false) : Notice;

    /// <summary>
    /// A running job's cancel was asked for by its event <paramref name="Seq"/>: the handler's token
    /// fires where it runs, unless that run was claimed after it (a later run of the job, retried at
    /// once: the notice can arrive late, as a node's own does on its way back from the server).
    /// </summary>
    public sealed record CancelRequested(Guid JobId, long Seq) : Notice;

    /// <summary>
    /// Events up to <paramref name="Seq"/> were committed for the job. <paramref name="SentWithCommit"/>:
    /// the write's own statement already notified every node, this one included.
    /// </summary>
    public sealed record EventsAppended(Guid JobId, long Seq, bool SentWithCommit = false) : Notice;

    /// <summary>A job type was paused or resumed: workers read job_type_pauses again.</summary>
    public sealed record PausesChanged : Notice;

    /// <summary>Not sent: the listener (re)connected, so whatever was announced meanwhile may have been missed.</summary>
    public sealed record Reconnected : Notice;
}

/// <summary>
/// The driver's listen/notify. <see cref="Publish"/> is called after a commit and returns at
/// once: PostgreSQL sends the notices outside the writing transaction (a NOTIFY inside it would
/// serialise every commit), coalesced per node, except one insert at a time that carries its own
/// wake-up and created events' notice (<see cref="PostgresNotifier.TryCarryWakeUp"/>); SQLite hands them to this process's subscribers.
/// </summary>
public interface IJobNotifier
{
    void Publish(Notice notice);

    /// <summary>Called with every notice this node hears, including its own.</summary>
    event Action<Notice> Received;

    /// <summary>Runs until stopped: the listening connection (PostgreSQL) and the sending loop.</summary>
    Task RunAsync(CancellationToken ct);

    /// <summary>Completes once notices are heard (PostgreSQL: the first LISTEN is in place).</summary>
    Task Listening { get; }
}
