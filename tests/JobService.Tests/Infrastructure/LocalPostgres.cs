using System.Diagnostics;

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
        var cluster = new PostgresCluster(bin);
        cluster.Start();
        AppDomain.CurrentDomain.ProcessExit += (_, _) => cluster.Dispose();
        Console.Error.WriteLine($"PostgreSQL from {bin} started for this test run on 127.0.0.1:{cluster.Port} (data in {cluster.Folder})");
        return cluster.Server;
    }

    /// <summary>
    /// A cluster of a test's own, which it may stop and start (an outage) without touching the
    /// run's shared server. Skips (fails under CI) where there are no server binaries.
    /// </summary>
    public static PostgresCluster Private()
    {
        var bin = Binaries();
        if (bin is null)
        {
            if (TestDatabase.IsCi) throw new InvalidOperationException($"CI=true: the PostgreSQL fault tests must run here; {Install}.");
            Assert.Skip($"No PostgreSQL server binaries here; {Install}.");
        }
        var cluster = new PostgresCluster(bin);
        cluster.Start();
        return cluster;
    }

    /// <summary>initdb, start and stop of one throw-away cluster on a free loopback port.</summary>
    public sealed class PostgresCluster : IDisposable
    {
        readonly string _bin;
        readonly bool _asRoot = Environment.UserName == "root"; // initdb refuses root: the cluster belongs to the postgres user

        public PostgresCluster(string bin)
        {
            _bin = bin;
            Folder = Directory.CreateTempSubdirectory("jobservice-pg-").FullName;
            Port = TestPorts.Free();
            if (_asRoot) Run("chown", "postgres", Folder);
            Pg("initdb", "-D", $"{Folder}/data", "--auth=trust", "-U", "postgres", "--no-sync");
        }

        public string Folder { get; }
        public int Port { get; }
        public string Server => $"Host=127.0.0.1;Port={Port};Username=postgres;Database=postgres";

        public void Start() => Pg("pg_ctl", "-D", $"{Folder}/data", "-l", $"{Folder}/log", "-w", "start",
            "-o", $"-c listen_addresses=127.0.0.1 -p {Port} -k {Folder} -c max_connections=300");

        /// <summary>Stops the server: <c>fast</c> as an operator would, <c>immediate</c> as a crash.</summary>
        public void Stop(string mode = "fast") => Pg("pg_ctl", "-D", $"{Folder}/data", "-m", mode, "-w", "stop");

        void Pg(string tool, params string[] args)
        {
            if (_asRoot) Run("runuser", ["-u", "postgres", "--", Path.Combine(_bin, tool), .. args]);
            else Run(Path.Combine(_bin, tool), args);
        }

        public void Dispose()
        {
            try { Stop("immediate"); } catch (InvalidOperationException) { } // already stopped
            try { Directory.Delete(Folder, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
        }
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

}
