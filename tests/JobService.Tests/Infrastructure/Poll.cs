namespace JobService.Tests.Infrastructure;

/// <summary>
/// Waits for what no event in this process reports: another process's rows, files or answers,
/// PostgreSQL's lock table, a worker's in-memory set of jobs. The condition is checked again every
/// 20 ms until it holds; past <c>within</c> the test fails naming what it waited for. A change to
/// a job made in this process has an event: wait on <see cref="JobChanges"/> instead.
/// </summary>
public static class Poll
{
    static readonly TimeSpan Every = TimeSpan.FromMilliseconds(20);

    /// <summary>Until <paramref name="condition"/> holds; a failure adds <paramref name="detail"/> as it then is (a process's output).</summary>
    public static async Task UntilAsync(Func<Task<bool>> condition, string what, TimeSpan within, Func<string>? detail = null)
    {
        var deadline = DateTime.UtcNow + within;
        while (!await condition())
        {
            if (DateTime.UtcNow > deadline) Assert.Fail($"Timed out after {within.TotalSeconds:0} s waiting until {what}.{(detail is null ? "" : "\n" + detail())}");
            await Task.Delay(Every);
        }
    }

    public static Task UntilAsync(Func<bool> condition, string what, TimeSpan within) =>
        UntilAsync(() => Task.FromResult(condition()), what, within);
}
