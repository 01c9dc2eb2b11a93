using System.Runtime.InteropServices;

namespace JobService.Hosting;

/// <summary>
/// Keeps the runtime's background compiler from taking a core the service's own work is waiting
/// for: on Linux, the thread on which .NET recompiles hot methods at a higher tier runs at a nice
/// 5 above the process's (nice 5 in a process at 0). In a fresh process that thread recompiles
/// thousands of framework and driver methods while the first jobs and requests come (about 0.9 s
/// of CPU in a worker's first five seconds), and a claim or a submit that needed a core while it
/// had one waited for it: the tail of an idle worker's pickup. At nice 5 a thread that wakes for a claim or a request gets the core first;
/// under a sustained load the compiler still gets about a quarter of a busy thread's share, so
/// the faster code still comes. Nice 19 starved it: `GET /jobs/{id}` under load stayed at half
/// its speed. Figures: docs/benchmarks.md, thirty-fifth session. The runtime starts that thread
/// when it has methods to recompile and ends it after a few idle seconds, so the process's
/// threads are looked at every 100 ms; only threads not seen at the last look are read.
/// Elsewhere than Linux, nothing.
/// </summary>
public sealed class CompilerPriority(ILogger<CompilerPriority> log) : BackgroundService
{
    /// <summary>The runtime's name for the thread (".NET Tiered Compilation Worker") as Linux keeps it: 15 characters.</summary>
    internal const string ThreadName = ".NET Tiered Com";
    /// <summary>How much higher than the process's its nice is: 19 starved it under load (above).</summary>
    internal const int Lower = 5;
    const int PrioProcess = 0; // setpriority(PRIO_PROCESS, tid, …) sets one thread's nice on Linux
    static readonly TimeSpan Every = TimeSpan.FromMilliseconds(100);
    HashSet<int> _seen = [], _now = []; // thread ids at the last look and at this one
    int? _nice;

    [DllImport("libc", SetLastError = true)]
    static extern int setpriority(int which, uint who, int prio);

    protected override async Task ExecuteAsync(CancellationToken stopping)
    {
        if (!OperatingSystem.IsLinux()) return;
        try
        {
            using var timer = new PeriodicTimer(Every);
            do LowerNewCompilerThreads(); while (await timer.WaitForNextTickAsync(stopping));
        }
        catch (OperationCanceledException) { }
        catch (Exception e)
        {
            // Only a preference: a process without /proc (or one that may not renice) runs as it would have.
            log.LogDebug("Lowering the background compiler's priority stopped: {Error}", e.Message);
        }
    }

    /// <summary>Lowers each compiler thread that started since the last look; returns their thread ids.</summary>
    internal IReadOnlyList<int> LowerNewCompilerThreads()
    {
        // Relative to the process's own nice (its main thread's), so that a service started at a
        // lower priority never has its compiler raised above it.
        _nice ??= Math.Min(19, NiceOf("/proc/self/stat") + Lower);
        List<int>? lowered = null;
        _now.Clear();
        foreach (var task in Directory.EnumerateDirectories("/proc/self/task"))
        {
            if (!int.TryParse(Path.GetFileName(task), out var tid) || !_now.Add(tid) || _seen.Contains(tid)) continue;
            try
            {
                if (File.ReadAllText(Path.Combine(task, "comm")).TrimEnd('\n') != ThreadName) continue;
            }
            catch (IOException) { continue; } // it ended meanwhile
            if (setpriority(PrioProcess, (uint)tid, _nice.Value) == 0)
            {
                (lowered ??= []).Add(tid);
                log.LogDebug("The background compiler's thread {ThreadId} runs at nice {Nice}", tid, _nice);
            }
        }
        (_seen, _now) = (_now, _seen); // what ended is forgotten: thread ids are reused
        return lowered ?? [];
    }

    /// <summary>A process's or thread's nice: field 19 of its stat, counted after the name in parentheses (which may hold spaces).</summary>
    static int NiceOf(string stat)
    {
        var text = File.ReadAllText(stat);
        return int.Parse(text[(text.LastIndexOf(')') + 2)..].Split(' ')[19 - 3]);
    }
}
