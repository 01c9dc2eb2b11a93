using JobService.Transitions;

namespace JobService.Worker;

/// <summary>
/// "This node now hears NOTIFY", as a service of its own: the peer benchmark's adapter
/// (../shared/bench-peers, outside this repository) waits on <see cref="Listening"/> before it
/// reports a worker ready, and it resolves this type by name. The driver's notifier owns the
/// connection; on SQLite (in-process signals) it completes at once.
/// </summary>
public sealed class PostgresListener(IJobDriver driver)
{
    public Task Listening => driver.Notifier.Listening;
}
