using System.Diagnostics;
using System.Net;
using System.Net.Sockets;

namespace JobService.Tests.Infrastructure;

/// <summary>
/// The PostgreSQL server the PostgreSQL suites use: the one <c>JOBSERVICE_TEST_POSTGRES</c> names,
/// or else a throw-away cluster this test run starts itself from the machine's server binaries
/// (<c>pg_ctl</c> on PATH or under /usr/lib/postgresql/*/bin), on a free loopback port in a
/// temporary folder, once per run, removed when the run ends. So plain <c>dotnet test</c> runs
/// the whole suite wherever PostgreSQL is installed.
/// </summary>
public static class LocalPostgres
{
    public const string Variable = "JOBSERVICE_TEST_POSTGRES";
    public const string Install = "install the server with `apt-get install postgresql` (Debian/Ubuntu) to run them, " +
                                  $"or set {Variable} to a base connection string";

    static readonly Lazy<(string? Server, string Reason)> Started = new(Find, LazyThreadSafetyMode.ExecutionAndPublication);

    /// <summary>A base connection string (trust auth, database postgres), or null and why.</summary>
    public static (string? Server, string Reason) Server => Started.Value;

    static (string?, string) Find()
    {
        var configured = Environment.GetEnvironmentVariable(Variable);
        if (!string.IsNullOrWhiteSpace(configured)) return (configured, "");
        var bin = Binaries();
        if (bin is null)
        {
            var reason = $"No PostgreSQL server binaries here: the PostgreSQL tests cannot run; {Install}.";
            Console.Error.WriteLine(reason); // once per run, not once per test
            return (null, reason);
        }
        return (Start(bin), "");
    }

    static string? Binaries()
    {
        var onPath = (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':', StringSplitOptions.RemoveEmptyEntries)
            .FirstOrDefault(dir => File.Exists(Path.Combine(dir, "pg_ctl")) && File.Exists(Path.Combine(dir, "initdb")));
        if (onPath is not null) return onPath;
        return Directory.Exists("/usr/lib/postgresql")
            ? Directory.GetDirectories("/usr/lib/postgresql").Select(d => Path.Combine(d, "bin"))
                .Where(d => File.Exists(Path.Combine(d, "pg_ctl")))
                .OrderByDescending(d => Version.TryParse(Path.GetFileName(Path.GetDirectoryName(d)), out var v) ? v : new Version(0, 0))
                .FirstOrDefault()
            : null;
    }

    static string Start(string bin)
    {
        var folder = Directory.CreateTempSubdirectory("jobservice-pg-").FullName;
        var port = FreePort();
        // initdb refuses to run as root: as root, the cluster belongs to the postgres user.
        var asRoot = Environment.UserName == "root";
        if (asRoot) Run("chown", "postgres", folder);
        string[] As(string tool, params string[] args) => asRoot ? ["-u", "postgres", "--", Path.Combine(bin, tool), .. args] : args;
        var tool = (string name) => asRoot ? "runuser" : Path.Combine(bin, name);

        Run(tool("initdb"), As("initdb", "-D", $"{folder}/data", "--auth=trust", "-U", "postgres", "--no-sync"));
        Run(tool("pg_ctl"), As("pg_ctl", "-D", $"{folder}/data", "-l", $"{folder}/log", "-w", "start",
            "-o", $"-c listen_addresses=127.0.0.1 -p {port} -k {folder} -c max_connections=300"));
        AppDomain.CurrentDomain.ProcessExit += (_, _) =>
        {
            try { Run(tool("pg_ctl"), As("pg_ctl", "-D", $"{folder}/data", "-m", "immediate", "-w", "stop")); } catch (InvalidOperationException) { }
            try { Directory.Delete(folder, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
        };
        Console.Error.WriteLine($"PostgreSQL from {bin} started for this test run on 127.0.0.1:{port} (data in {folder})");
        return $"Host=127.0.0.1;Port={port};Username=postgres;Database=postgres";
    }

    static void Run(string file, params string[] args)
    {
        var start = new ProcessStartInfo(file, args) { RedirectStandardOutput = true, RedirectStandardError = true, WorkingDirectory = "/" };
        using var process = Process.Start(start)!;
        var output = process.StandardOutput.ReadToEndAsync();
        var error = process.StandardError.ReadToEnd();
        process.WaitForExit();
        if (process.ExitCode != 0)
            throw new InvalidOperationException($"{file} {string.Join(' ', args)} failed ({process.ExitCode}): {output.Result}{error}");
    }

    static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}
