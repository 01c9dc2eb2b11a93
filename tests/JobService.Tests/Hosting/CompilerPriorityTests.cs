using JobService.Hosting;
using JobService.Tests.Infrastructure;
using Microsoft.Extensions.Logging.Abstractions;

namespace JobService.Tests.Hosting;

/// <summary>The runtime's background compiler at a lower CPU priority (Linux): real threads, their nice read from /proc.</summary>
public sealed class CompilerPriorityTests
{
    [Fact]
    public void AThreadNamedAsTheRuntimesCompilerIsLoweredOnceAndOtherThreadsAreLeftAsTheyAre()
    {
        if (!OperatingSystem.IsLinux()) Assert.Skip("Thread priorities are set on Linux only.");
        using var compiler = new WaitingThread(".NET Tiered Compilation Worker"); // Linux keeps the first 15 characters, as for the runtime's own
        using var other = new WaitingThread("JobService test");
        var priority = new CompilerPriority(NullLogger<CompilerPriority>.Instance);

        var lowered = priority.LowerNewCompilerThreads();
        var again = priority.LowerNewCompilerThreads();

        Assert.Contains(compiler.Id, lowered);
        Assert.DoesNotContain(other.Id, lowered);
        Assert.Equal(Nice(Environment.ProcessId, Environment.ProcessId) + CompilerPriority.Lower, Nice(Environment.ProcessId, compiler.Id));
        Assert.Equal(Nice(Environment.ProcessId, Environment.ProcessId), Nice(Environment.ProcessId, other.Id));
        Assert.DoesNotContain(compiler.Id, again); // a thread already seen is not read again
    }

    /// <summary>The service's own binary: its runtime's compiler thread, busy with the start-up's hot methods, runs at a nice 5 above the process's.</summary>
    [Fact]
    public async Task TheServicesBackgroundCompilerRunsAtALowerPriority()
    {
        if (!OperatingSystem.IsLinux()) Assert.Skip("Thread priorities are set on Linux only.");
        await using var database = TestDatabase.Sqlite();
        await using var service = ServiceProcess.Start(new Dictionary<string, string> { ["ConnectionStrings__Jobs"] = database.ConnectionString });
        await service.WaitUntilReadyAsync(TimeSpan.FromSeconds(60));
        using var http = new HttpClient { BaseAddress = new Uri(service.BaseUrl) };

        // Requests keep methods reaching the runtime's recompile threshold, so its compiler thread is there to be seen.
        await Poll.UntilAsync(async () =>
        {
            (await http.GetAsync("/health/ready")).EnsureSuccessStatusCode();
            var compilers = CompilerThreads(service.ProcessId);
            return compilers.Count > 0 && compilers.All(tid => Nice(service.ProcessId, tid) == Nice(service.ProcessId, service.ProcessId) + CompilerPriority.Lower);
        }, $"the service's compiler thread runs at a nice {CompilerPriority.Lower} above the process's", TimeSpan.FromSeconds(30),
            () => string.Join(", ", CompilerThreads(service.ProcessId).Select(tid => $"{tid}: nice {Nice(service.ProcessId, tid)}")));
    }

    static List<int> CompilerThreads(int pid) =>
        Directory.EnumerateDirectories($"/proc/{pid}/task").Select(task => (Task: task, Name: ReadOrEmpty(Path.Combine(task, "comm"))))
            .Where(t => t.Name.TrimEnd('\n') == CompilerPriority.ThreadName).Select(t => int.Parse(Path.GetFileName(t.Task))).ToList();

    static string ReadOrEmpty(string path)
    {
        try { return File.ReadAllText(path); }
        catch (IOException) { return ""; } // the thread ended
    }

    /// <summary>A thread's nice: field 19 of its stat, counted after the name in parentheses (field 2, which may hold spaces).</summary>
    static int Nice(int pid, int tid)
    {
        var stat = ReadOrEmpty($"/proc/{pid}/task/{tid}/stat");
        return stat == "" ? int.MinValue : int.Parse(stat[(stat.LastIndexOf(')') + 2)..].Split(' ')[19 - 3]);
    }

    /// <summary>A named thread of this process that waits until disposed; <see cref="Id"/> is its thread id as Linux knows it.</summary>
    sealed class WaitingThread : IDisposable
    {
        readonly ManualResetEventSlim _started = new(), _stop = new();
        public int Id { get; private set; }

        public WaitingThread(string name)
        {
            new Thread(() =>
            {
                Id = int.Parse(Path.GetFileName(new DirectoryInfo("/proc/thread-self").LinkTarget!));
                _started.Set();
                _stop.Wait();
            }) { Name = name, IsBackground = true }.Start();
            _started.Wait();
        }

        public void Dispose() => _stop.Set();
    }
}
