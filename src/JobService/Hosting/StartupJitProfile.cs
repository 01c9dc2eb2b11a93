using System.Diagnostics;
using System.Reflection;
using System.Runtime;

namespace JobService.Hosting;

/// <summary>
/// The runtime's multi-core JIT (<see cref="ProfileOptimization"/>) from one start to the next: a
/// process records which methods its first minute compiled, and the next start of the same role has
/// the runtime compile them ahead on a thread of its own. Until the host is built a start runs on
/// one thread, with the second core idle; the methods it would compile as it meets them are then
/// ready (docs/benchmarks.md, forty-seventh session: the first handler 50–90 ms sooner).
/// <para>
/// A profile is a program's in a role (<c>JobService-worker</c>): another program hosting the service,
/// or the same in another role, meets other methods. Each process records into a file of its own,
/// <c>{profile}.{pid}.jitprofile</c>, holding a copy of the profile it plays until the runtime writes
/// the new one over it: at <see cref="RecordFor"/> (then it is renamed <c>{profile}.jitprofile</c>)
/// or at the process's exit, whichever is first. A start plays the newest file no running process
/// is still to write, so none is read half written, and deletes the older ones.
/// </para>
/// </summary>
static class StartupJitProfile
{
    /// <summary>As long as the runtime plays a profile back: what comes later is not the start.</summary>
    static readonly TimeSpan RecordFor = TimeSpan.FromMinutes(1);
    const string Extension = ".jitprofile";

    static int _started;
    static Timer? _recording;

    /// <summary>Why no profile is kept, for the start-up log (the folder cannot be written, most often).</summary>
    public static string? Problem { get; private set; }

    /// <summary>Once a process: the runtime keeps one recording.</summary>
    public static void Start(string directory, string role)
    {
        if (Interlocked.Exchange(ref _started, 1) == 1) return;
        var profile = $"{Assembly.GetEntryAssembly()?.GetName().Name ?? "JobService"}-{role}";
        try
        {
            Directory.CreateDirectory(directory);
            var own = $"{profile}.{Environment.ProcessId}{Extension}";
            var written = Written(directory, profile);
            if (written.MaxBy(f => f.LastWriteTimeUtc) is { } newest && newest.Name != own)
                newest.CopyTo(Path.Combine(directory, own), overwrite: true);
            foreach (var old in written.Where(f => f.Name != own && f.Name != Shared(profile))) old.Delete();
            ProfileOptimization.SetProfileRoot(directory);
            ProfileOptimization.StartProfile(own); // plays the copy back; the recording is written over it
            _recording = new Timer(_ => StopRecording(directory, own, profile), null, RecordFor, Timeout.InfiniteTimeSpan);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            Problem = $"no start-up profile is kept in {directory}: {e.Message}";
        }
    }

    static string Shared(string profile) => profile + Extension;

    /// <summary>
    /// The profile's files that no running process will write again: the shared one, and each
    /// process's own once that process has ended (its own pid here is an earlier process's: a
    /// container's service is always pid 1).
    /// </summary>
    internal static List<FileInfo> Written(string directory, string profile) =>
        new DirectoryInfo(directory).EnumerateFiles($"{profile}.*").Where(f => f.Name.EndsWith(Extension, StringComparison.Ordinal))
            .Where(f => f.Name == Shared(profile) || ProcessOf(f.Name, profile) is { } pid && (pid == Environment.ProcessId || !Running(pid)))
            .ToList();

    static int? ProcessOf(string name, string profile) =>
        int.TryParse(name.AsSpan(profile.Length + 1, name.Length - profile.Length - 1 - Extension.Length), out var pid) && pid > 0 ? pid : null;

    static bool Running(int pid)
    {
        try
        {
            using var process = Process.GetProcessById(pid);
            return !process.HasExited;
        }
        catch (Exception e) when (e is ArgumentException or InvalidOperationException)
        {
            return false;
        }
    }

    /// <summary>Ends the recording (the runtime writes it now) and makes it the one the next start plays.</summary>
    static void StopRecording(string directory, string own, string profile)
    {
        try
        {
            ProfileOptimization.StartProfile(null);
            File.Move(Path.Combine(directory, own), Path.Combine(directory, Shared(profile)), overwrite: true);
        }
        catch (Exception)
        {
            // On a timer's thread, where an exception would end the process: a profile is worth
            // less than that. The process's own file stays, and is played once the process has ended.
        }
    }
}
