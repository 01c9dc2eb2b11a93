using System.Diagnostics;
using JobService.Hosting;
using JobService.Tests.Infrastructure;

namespace JobService.Tests.Hosting;

/// <summary>
/// The runtime's multi-core JIT profile from one start to the next (<see cref="StartupJitProfile"/>):
/// which files a start may read, and the service's own binary handing its profile to its next start.
/// </summary>
public sealed class StartupJitProfileTests : IDisposable
{
    static readonly TimeSpan Within = TimeSpan.FromSeconds(60);
    readonly TempFolder _folder = new();

    public void Dispose() => _folder.Dispose();

    /// <summary>
    /// A start reads the shared file and those of processes that have ended (its own pid's is an
    /// earlier process's: a container's service is pid 1 every time), never one a running process
    /// will write at its exit, nor another profile's.
    /// </summary>
    [Fact]
    public void AStartMayReadTheSharedFileAndThoseOfEndedProcessesOnly()
    {
        using var running = Process.Start("sleep", "60")!;
        int ended;
        using (var done = Process.Start("true")!)
        {
            done.WaitForExit();
            ended = done.Id;
        }
        try
        {
            foreach (var name in new[]
                     {
                         "JobService-worker.jitprofile", $"JobService-worker.{ended}.jitprofile", $"JobService-worker.{Environment.ProcessId}.jitprofile",
                         $"JobService-worker.{running.Id}.jitprofile", $"JobService-api.{ended}.jitprofile", "JobService-worker.x.jitprofile",
                         "JobService-worker.jitprofile.tmp",
                     })
                File.WriteAllText(Path.Combine(_folder.Path, name), "");

            var readable = StartupJitProfile.Written(_folder.Path, "JobService-worker").Select(f => f.Name).Order().ToList();

            Assert.Equal(new[] { $"JobService-worker.{ended}.jitprofile", $"JobService-worker.{Environment.ProcessId}.jitprofile", "JobService-worker.jitprofile" }.Order(),
                readable);
        }
        finally
        {
            running.Kill();
        }
    }

    /// <summary>
    /// The binary's first start leaves the methods it compiled in a file of its own; the next start
    /// plays a copy of it (the first file is gone), and the profile that start writes says that the
    /// runtime compiled methods ahead from it which the service then called. The count is read from
    /// the profile's header as the runtime writes it (HeaderRecord in dotnet/runtime's
    /// src/coreclr/vm/multicorejitimpl.h, version 102): nothing else outside the runtime shows it.
    /// </summary>
    [Fact]
    public async Task TheNextStartCompilesAheadWhatTheFirstStartCompiled()
    {
        var profiles = Path.Combine(_folder.Path, "profiles");
        var environment = new Dictionary<string, string>
        {
            ["ConnectionStrings__Jobs"] = $"Data Source={_folder.NewDatabase("jit")}",
            ["Service__JitProfileDirectory"] = profiles,
        };

        var first = await RunUntilReadyThenStopAsync(environment);
        var firstFile = Path.Combine(profiles, $"JobService-all.{first}.jitprofile");
        Assert.Equal([firstFile], Directory.GetFiles(profiles));
        var recorded = await File.ReadAllBytesAsync(firstFile);
        Assert.True(Header(recorded).Methods > 100, $"the first start recorded {Header(recorded).Methods} methods");

        int second = 0;
        var secondFile = "";
        await RunUntilReadyThenStopAsync(environment, pid =>
        {
            second = pid;
            secondFile = Path.Combine(profiles, $"JobService-all.{pid}.jitprofile");
            Assert.Equal([secondFile], Directory.GetFiles(profiles)); // the first's is gone
            Assert.Equal(recorded, File.ReadAllBytes(secondFile)); // the copy it plays, not yet written over
        });
        var played = Header(await File.ReadAllBytesAsync(secondFile));
        Assert.True(played.Returned > 0, $"the second start ({second}) was handed no method compiled ahead: {played}");
    }

    /// <summary>A command-line verb's short run is no start to learn from: it keeps no profile.</summary>
    [Fact]
    public async Task MigrateKeepsNoProfile()
    {
        var profiles = Path.Combine(_folder.Path, "profiles");
        await using var migrate = ServiceProcess.Start(new Dictionary<string, string>
        {
            ["ConnectionStrings__Jobs"] = $"Data Source={_folder.NewDatabase("jit")}",
            ["Service__JitProfileDirectory"] = profiles,
        }, "migrate");

        Assert.True(await migrate.ExitCodeAsync(Within) == 0, migrate.AllText);
        Assert.False(Directory.Exists(profiles) && Directory.EnumerateFileSystemEntries(profiles).Any(), "migrate kept a profile");
    }

    /// <summary>A folder the service cannot write costs the next start its head start, not this one: one line says so.</summary>
    [Fact]
    public async Task AFolderThatCannotBeWrittenIsOneLineAndTheServiceStartsAnyway()
    {
        if (!OperatingSystem.IsLinux()) Assert.Skip("/proc takes no folder on Linux only.");
        await using var service = ServiceProcess.Start(new Dictionary<string, string>
        {
            ["ConnectionStrings__Jobs"] = $"Data Source={_folder.NewDatabase("jit")}",
            ["Service__JitProfileDirectory"] = "/proc/jobservice-jit-profiles",
        });

        await service.WaitForOutputAsync("The next start will not be faster: no start-up profile is kept in /proc/jobservice-jit-profiles", Within);
        await service.WaitUntilReadyAsync(Within);
        Assert.Single(service.Output, l => l.Contains("The next start will not be faster", StringComparison.Ordinal));
    }

    static async Task<int> RunUntilReadyThenStopAsync(Dictionary<string, string> environment, Action<int>? whileRunning = null)
    {
        await using var service = ServiceProcess.Start(environment);
        await service.WaitUntilReadyAsync(Within);
        whileRunning?.Invoke(service.ProcessId);
        service.Terminate(); // a graceful exit: the runtime writes the recording then
        Assert.True(await service.ExitCodeAsync(Within) == 0, service.AllText);
        return service.ProcessId;
    }

    /// <summary>From the runtime's header: 6 counts of 4 bytes, then 14 of 2 (the playback's statistics; the fifth: methods the application was handed).</summary>
    static (int Version, int Methods, int Returned) Header(byte[] profile) =>
        (BitConverter.ToInt32(profile, 4), BitConverter.ToInt32(profile, 16), BitConverter.ToUInt16(profile, 24 + 2 * 4));
}
