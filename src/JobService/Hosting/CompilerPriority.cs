using System.Runtime.InteropServices;

namespace JobService.Hosting;

/// <summary>
/// Keeps the runtime's background compiler from taking a core the service's own work waits for:
/// on Linux, the thread on which .NET recompiles hot methods at a higher tier runs at a nice
/// <see cref="NiceAboveProcess"/> above the process's (5 in a process at 0). In a fresh process it
/// recompiles thousands of methods while the first jobs and requests come, and a claim or a
/// submit that needed a core while it had one waited for it: the tail of an idle worker's pickup.
/// At nice 5 a thread that wakes for a claim or a request gets the core first, and under load the
/// compiler still gets its share, so the faster code still comes (19 starved it). Figures and the
/// trade: docs/decisions.md and docs/benchmarks.md, thirty-fifth session. The runtime starts that
/// thread when it has work and ends it after a few idle seconds, so the process's threads are
/// looked at every 100 ms. Elsewhere than Linux, nothing.
/// </summary>
public sealed class CompilerPriority(ILogger<CompilerPriority> log) : IHostedService, IDisposable
{
    /// <summary>The runtime's name for the thread (".NET Tiered Compilation Worker") as Linux keeps it: 15 characters.</summary>
    internal const string ThreadName = ".NET Tiered Com";
    internal const int NiceAboveProcess = 5;
    const int PrioProcess = 0; // setpriority(PRIO_PROCESS, tid, …) sets one thread's nice on Linux
    static readonly TimeSpan Every = TimeSpan.FromMilliseconds(100);

    // Each thread id at the last look: true once settled (lowered, or named otherwise at two looks:
    // the runtime names a new thread just after it starts, so one look may read its creator's name).
    Dictionary<int, bool> _last = [], _now = [];
    readonly Lock _looking = new(); // a look that outlasts the period is not run beside the next
    Timer? _timer;

    [DllImport("libc", SetLastError = true)]
    static extern int setpriority(int which, uint who, int prio);

    /// <summary>
    /// A timer, not a loop awaiting one: its stop is the timer's disposal, where a cancelled loop's
    /// end (an exception through its awaits, on cold code) took ~9 ms of every graceful stop.
    /// </summary>
    public Task StartAsync(CancellationToken ct)
    {
        if (OperatingSystem.IsLinux()) _timer = new Timer(_ => Look(), null, TimeSpan.Zero, Every);
        return Task.CompletedTask;
    }

    public Task StopAsync(CancellationToken ct)
    {
        Dispose();
        return Task.CompletedTask;
    }

    public void Dispose() => _timer?.Dispose();

    void Look()
    {
        if (!_looking.TryEnter()) return;
        try { LowerNewCompilerThreads(); }
        catch (Exception e)
        {
            // Only a preference: a process without /proc runs as it would have.
            _timer?.Dispose();
            log.LogInformation("The background compiler's priority is left as it is: {Error}", e.Message);
        }
        finally { _looking.Exit(); }
    }

    /// <summary>Lowers each compiler thread that started since the last look; returns their thread ids.</summary>
    internal IReadOnlyList<int> LowerNewCompilerThreads()
    {
        List<int>? lowered = null;
        _now.Clear();
        foreach (var task in Directory.EnumerateDirectories("/proc/self/task"))
        {
            if (!int.TryParse(Path.GetFileName(task.AsSpan()), out var tid)) continue;
            var seen = _last.TryGetValue(tid, out var settled);
            if (settled) { _now[tid] = true; continue; }
            try
            {
                var compiler = File.ReadAllText(Path.Combine(task, "comm")).TrimEnd('\n') == ThreadName;
                _now[tid] = compiler || seen; // named otherwise at two looks: settled
                if (compiler && Lower(tid, task)) (lowered ??= []).Add(tid);
            }
            catch (IOException) { } // it ended meanwhile
        }
        (_last, _now) = (_now, _last); // what ended is forgotten: thread ids are reused
        return lowered ?? [];
    }

    /// <summary>
    /// To the process's nice (its main thread's, read now) + <see cref="NiceAboveProcess"/>, at most
    /// 19, and never to a higher priority than the thread has (an operator may have lowered it).
    /// </summary>
    bool Lower(int tid, string task)
    {
        var nice = Math.Max(NiceOf(Path.Combine(task, "stat")), Math.Min(19, NiceOf("/proc/self/stat") + NiceAboveProcess));
        if (setpriority(PrioProcess, (uint)tid, nice) == 0)
        {
            log.LogDebug("The background compiler's thread {ThreadId} runs at nice {Nice}", tid, nice);
            return true;
        }
        log.LogInformation("The background compiler's thread {ThreadId} was left at its priority: setpriority failed (errno {Errno})",
            tid, Marshal.GetLastPInvokeError());
        return false;
    }

    /// <summary>A process's or thread's nice: field 19 of its stat, counted after the name in parentheses (which may hold spaces).</summary>
    static int NiceOf(string stat)
    {
        var text = File.ReadAllText(stat);
        return int.Parse(text[(text.LastIndexOf(')') + 2)..].Split(' ')[19 - 3]);
    }
}
