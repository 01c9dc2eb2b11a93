using JobService.Hosting;
using JobService.Tests.Infrastructure;
using Microsoft.Extensions.Logging.Abstractions;

namespace JobService.Tests.Hosting;

/// <summary>
/// The runtime's background compiler at a lower CPU priority (Linux): real threads, their nice
/// read from /proc. (The looks below also lower this test process's own compiler thread.)
/// </summary>
public sealed class CompilerPriorityTests
{
    const string RuntimesName = ".NET Tiered Compilation Worker"; // Linux keeps the first 15 characters, as for the runtime's own

    [Fact]
    public void AThreadNamedAsTheRuntimesCompilerIsLoweredOnceAndOtherThreadsAreLeftAsTheyAre()
    {
        if (!OperatingSystem.IsLinux()) Assert.Skip("Thread priorities are set on Linux only.");
        using var compiler = new WaitingThread(RuntimesName);
        using var other = new WaitingThread("JobService test");
        var priority = new CompilerPriority(NullLogger<CompilerPriority>.Instance);

        var lowered = priority.LowerNewCompilerThreads();
        var again = priority.LowerNewCompilerThreads();

        Assert.Contains(compiler.Id, lowered);
        Assert.DoesNotContain(other.Id, lowered);
        Assert.Equal(Expected(Environment.ProcessId), Nice(Environment.ProcessId, compiler.Id));
        Assert.Equal(Nice(Environment.ProcessId, Environment.ProcessId), Nice(Environment.ProcessId, other.Id));
        Assert.DoesNotContain(compiler.Id, again); // a thread already lowered is not lowered again
    }

    /// <summary>The runtime names its thread just after starting it: a look between the two must not settle it as another thread.</summary>
    [Fact]
    public void AThreadNamedAfterALookIsLoweredAtTheNext()
    {
        if (!OperatingSystem.IsLinux()) Assert.Skip("Thread priorities are set on Linux only.");
        using var thread = new WaitingThread(name: null);
        var priority = new CompilerPriority(NullLogger<CompilerPriority>.Instance);

        var first = priority.LowerNewCompilerThreads();
        thread.NameItself(RuntimesName);
        var second = priority.LowerNewCompilerThreads();

        Assert.DoesNotContain(thread.Id, first);
        Assert.Contains(thread.Id, second);
        Assert.Equal(Expected(Environment.ProcessId), Nice(Environment.ProcessId, thread.Id));
    }

    /// <summary>The service's own binary: its runtime's compiler thread, busy with the start-up's hot methods, runs at a nice 5 above the process's.</summary>
    [Fact]
    public async Task TheServicesBackgroundCompilerRunsAtALowerPriority()
    {
        if (!OperatingSystem.IsLinux()) Assert.Skip("Thread priorities are set on Linux only.");
        await using var database = TestDatabase.Sqlite();
        await using var service = ServiceProcess.Start(new Dictionary<string, string>
        {
            ["ConnectionStrings__Jobs"] = database.ConnectionString,
            // The runtime keeps its compiler thread once started, for the test to see: an hour (the runtime reads hex).
            ["DOTNET_TC_BackgroundWorkerTimeoutMs"] = "36EE80",
        });
        await service.WaitUntilReadyAsync(TimeSpan.FromSeconds(60));
        using var http = new HttpClient { BaseAddress = new Uri(service.BaseUrl) };

        // Requests keep methods reaching the runtime's recompile threshold, so that its compiler thread starts.
        await Poll.UntilAsync(async () =>
        {
            (await http.GetAsync("/health/ready")).EnsureSuccessStatusCode();
            var compilers = CompilerThreads(service.ProcessId);
            return compilers.Count > 0 && compilers.All(tid => Nice(service.ProcessId, tid) == Expected(service.ProcessId));
        }, $"the service's compiler thread runs at a nice {CompilerPriority.NiceAboveProcess} above the process's", TimeSpan.FromSeconds(30),
            () => string.Join(", ", CompilerThreads(service.ProcessId).Select(tid => $"{tid}: nice {Nice(service.ProcessId, tid)}")));
    }

    static int Expected(int pid) => Math.Min(19, Nice(pid, pid) + CompilerPriority.NiceAboveProcess);

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

    /// <summary>A thread of this process that waits until disposed; <see cref="Id"/> is its thread id as Linux knows it.</summary>
    sealed class WaitingThread : IDisposable
    {
        readonly ManualResetEventSlim _ready = new(), _nameNow = new(), _stop = new();
        string? _name;
        public int Id { get; private set; }

        public WaitingThread(string? name)
        {
            var thread = new Thread(() =>
            {
                Id = int.Parse(Path.GetFileName(new DirectoryInfo("/proc/thread-self").LinkTarget!));
                _ready.Set();
                if (WaitHandle.WaitAny([_nameNow.WaitHandle, _stop.WaitHandle]) == 1) return;
                Thread.CurrentThread.Name = _name;
                _ready.Set();
                _stop.Wait();
            }) { IsBackground = true };
            if (name is not null) thread.Name = name;
            thread.Start();
            _ready.Wait();
        }

        /// <summary>Names itself, as the runtime names its compiler thread once it runs; returns once named.</summary>
        public void NameItself(string name)
        {
            _name = name;
            _ready.Reset();
            _nameNow.Set();
            _ready.Wait();
        }

        public void Dispose() => _stop.Set();
    }
}
