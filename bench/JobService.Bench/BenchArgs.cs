namespace JobService.Bench;

/// <summary><c>command --key value …</c>; the database from --provider (sqlite|postgres) and --connection.</summary>
public sealed class BenchArgs
{
    readonly Dictionary<string, string> _values = new();

    public string Command { get; }
    public string Provider => Get("provider", "sqlite");
    public string Connection => Get("connection", "Data Source=bench.db");
    public int N { get; } // read once: the work command reads it for every job it runs

    public BenchArgs(string[] args)
    {
        Command = args.FirstOrDefault() ?? "help";
        for (var i = 1; i + 1 < args.Length; i += 2)
        {
            if (!args[i].StartsWith("--", StringComparison.Ordinal)) throw new ArgumentException($"Expected --key, got '{args[i]}'.");
            _values[args[i][2..]] = args[i + 1];
        }
        N = int.Parse(Get("n", "1000"));
        // No command has anything to time with no jobs: work and latency waited forever for the Nth.
        if (N < 1) throw new ArgumentException("--n must be at least 1.");
    }

    public string Get(string key, string fallback) => _values.GetValueOrDefault(key, fallback);
}
