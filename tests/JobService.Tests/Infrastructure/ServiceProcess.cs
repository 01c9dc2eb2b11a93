using System.Collections.Concurrent;
using System.Diagnostics;

namespace JobService.Tests.Infrastructure;

/// <summary>
/// The service's own binary as a real process (Kestrel on a free loopback port), for what only
/// a process shows: exit codes, what it prints, start-up before the database answers.
/// </summary>
public sealed class ServiceProcess : IAsyncDisposable
{
    readonly Process _process;
    readonly ConcurrentQueue<string> _out = new(), _err = new();
    readonly JobService.Worker.JobWakeup _printed = new(); // a line printed, or the process exited

    public int Port { get; }
    public int ProcessId => _process.Id;
    public string BaseUrl => $"http://127.0.0.1:{Port}";
    public IReadOnlyCollection<string> Output => _out;
    public IReadOnlyCollection<string> Errors => _err;
    public string AllText => string.Join("\n", _out) + "\n" + string.Join("\n", _err);

    ServiceProcess(Process process, int port)
    {
        _process = process;
        Port = port;
    }

    public static ServiceProcess Start(IReadOnlyDictionary<string, string> environment, params string[] args) =>
        StartOn("127.0.0.1", environment, args);

    /// <summary>Listening on <paramref name="host"/> (0.0.0.0: every address, as a container does); reached at 127.0.0.1 either way.</summary>
    public static ServiceProcess StartOn(string host, IReadOnlyDictionary<string, string> environment, params string[] args) =>
        Launch(host, TestPorts.Free(), environment, args);

    /// <summary>On a port the test chose (one another process holds, say).</summary>
    public static ServiceProcess StartOnPort(int port, IReadOnlyDictionary<string, string> environment) => Launch("127.0.0.1", port, environment, []);

    static ServiceProcess Launch(string host, int port, IReadOnlyDictionary<string, string> environment, string[] args)
    {
        var start = new ProcessStartInfo("dotnet", [typeof(Program).Assembly.Location, .. args, "--urls", $"http://{host}:{port}"])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            WorkingDirectory = Path.GetTempPath(),
        };
        start.Environment["DOTNET_ENVIRONMENT"] = "Production";
        WithoutDiagnosticsFiles(start);
        foreach (var (key, value) in environment) start.Environment[key] = value;
        var process = new Process { StartInfo = start, EnableRaisingEvents = true };
        var service = new ServiceProcess(process, port);
        process.Exited += (_, _) => service._printed.Signal();
        process.OutputDataReceived += (_, e) => service.Printed(service._out, e.Data);
        process.ErrorDataReceived += (_, e) => service.Printed(service._err, e.Data);
        process.Start();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return service;
    }

    /// <summary>Waits for the process to exit by itself and returns its exit code; fails after <paramref name="within"/>.</summary>
    public async Task<int> ExitCodeAsync(TimeSpan within)
    {
        using var cts = new CancellationTokenSource(within);
        try { await _process.WaitForExitAsync(cts.Token); }
        catch (OperationCanceledException) { Assert.Fail($"The service did not exit within {within}:\n{AllText}"); }
        _process.WaitForExit(); // drains the redirected streams
        return _process.ExitCode;
    }

    void Printed(ConcurrentQueue<string> lines, string? line)
    {
        if (line is not null) lines.Enqueue(line);
        _printed.Signal();
    }

    /// <summary>Waits until a printed line contains <paramref name="text"/>: woken by each line, not a timer.</summary>
    public async Task WaitForOutputAsync(string text, TimeSpan within)
    {
        var deadline = DateTime.UtcNow + within;
        while (true)
        {
            var printed = _printed.Next; // taken before the look: a line printed meanwhile wakes the wait
            if (_out.Concat(_err).Any(l => l.Contains(text, StringComparison.Ordinal))) return;
            if (_process.HasExited) Assert.Fail($"The service exited ({_process.ExitCode}) before printing '{text}':\n{AllText}");
            if (!await printed.ArrivesWithinAsync(deadline - DateTime.UtcNow)) Assert.Fail($"The service never printed '{text}':\n{AllText}");
        }
    }

    /// <summary>Waits until /health/ready answers 200 (the database answers and is migrated): a poll, as a load balancer's.</summary>
    public async Task WaitUntilReadyAsync(TimeSpan within)
    {
        using var http = new HttpClient { BaseAddress = new Uri(BaseUrl) };
        await Poll.UntilAsync(async () =>
        {
            if (_process.HasExited) Assert.Fail($"The service exited ({_process.ExitCode}) before it was ready:\n{AllText}");
            try { return (await http.GetAsync("/health/ready")).IsSuccessStatusCode; }
            catch (HttpRequestException) { return false; } // not listening yet
        }, "the service is ready", within, () => AllText);
    }


    /// <summary>
    /// A test's child process opens no diagnostics channel: the runtime's pipes and socket in the
    /// temp folder are removed by a clean exit only, and most children end killed (a full run left
    /// about eighty such files). Nothing attaches to them: the CI's hang report reads the test host.
    /// </summary>
    public static void WithoutDiagnosticsFiles(ProcessStartInfo start) => start.Environment["DOTNET_EnableDiagnostics"] = "0";

    /// <summary>SIGTERM, as a deploy (or Ctrl+C) stops the service.</summary>
    public void Terminate()
    {
        using var kill = System.Diagnostics.Process.Start("kill", ["-TERM", _process.Id.ToString()])!;
        kill.WaitForExit();
    }

    /// <summary>SIGKILL: the process gets no chance to stop cleanly.</summary>
    public void Kill()
    {
        _process.Kill(entireProcessTree: true);
        _process.WaitForExit();
    }

    public async ValueTask DisposeAsync()
    {
        if (!_process.HasExited)
        {
            _process.Kill(entireProcessTree: true);
            await _process.WaitForExitAsync();
        }
        _process.Dispose();
    }
}
