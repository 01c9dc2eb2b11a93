namespace JobService.Transitions;

/// <summary>SQLite: one process owns the database file, so a notice goes straight to this process's subscribers.</summary>
public sealed class InProcessNotifier : IJobNotifier
{
    public event Action<Notice>? Received;

    public void Publish(Notice notice) => Received?.Invoke(notice);

    public Task RunAsync(CancellationToken ct) => Task.CompletedTask;

    public Task Listening => Task.CompletedTask;
}
