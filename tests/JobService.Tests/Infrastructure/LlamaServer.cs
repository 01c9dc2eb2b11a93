using System.Diagnostics;

namespace JobService.Tests.Infrastructure;

/// <summary>
/// llama.cpp's own llama-server, built from npm's node-llama-cpp packages by .ci/llama/build.sh
/// (cached; about two minutes the first time) and started with a tiny random-weight model that
/// has a real tokenizer and a real chat template (Mistral's: one system message, then alternating
/// roles). It answers nonsense, but its streaming, usage, finish reasons, errors and cancellation
/// are a real server's, not ours. Where it cannot be built (no compiler, no npm) its tests are
/// skipped on a developer's machine and fail under CI.
/// </summary>
public sealed class LlamaServer : IAsyncLifetime
{
    string? _skip;
    string? _port;

    /// <summary>The OpenAI-compatible base URL (…/v1).</summary>
    public string BaseUrl { get; private set; } = "";
    public const string Model = "jobservice-tiny";

    public async ValueTask InitializeAsync()
    {
        var root = RepositoryRoot();
        // A bigger context than run.sh's default: a generation of a few thousand tokens lasts long enough to cancel.
        var (code, output) = await RunAsync("bash", Path.Combine(root, ".ci/llama/run.sh"), "start", "--", "-c", "8192", "-np", "2");
        var url = output.Split('\n').Select(l => l.Trim()).FirstOrDefault(l => l.StartsWith("LLAMA_BASE_URL=", StringComparison.Ordinal));
        if (code != 0 || url is null)
        {
            _skip = $"llama-server could not be built or started (.ci/llama/run.sh exited {code}): {output[^Math.Min(output.Length, 600)..]}";
            if (TestDatabase.IsCi) throw new InvalidOperationException($"CI=true: the llama-server tests must run here. {_skip}");
            Console.Error.WriteLine(_skip);
            return;
        }
        BaseUrl = url["LLAMA_BASE_URL=".Length..];
        _port = new Uri(BaseUrl).Port.ToString();
    }

    public LlamaServer EnsureAvailable()
    {
        if (_skip is not null) Assert.Skip(_skip);
        return this;
    }

    /// <summary>Settings that make the service use this server as provider "llama", priced so that cost is not zero.</summary>
    public Dictionary<string, string?> ProviderSettings() => new()
    {
        ["Llm:Providers:llama:BaseUrl"] = BaseUrl,
        ["Llm:Providers:llama:DefaultModel"] = Model,
        ["Llm:Prices:jobservice-tiny:InputPerMillion"] = "1",
        ["Llm:Prices:jobservice-tiny:OutputPerMillion"] = "2",
        ["Llm:RetryBaseSeconds"] = "0.05",
        ["Worker:ProgressIntervalMs"] = "50",
        ["Worker:LeaseSeconds"] = "300",
    };

    public async ValueTask DisposeAsync()
    {
        if (_port is not null) await RunAsync("bash", Path.Combine(RepositoryRoot(), ".ci/llama/run.sh"), "stop", _port);
    }

    static string RepositoryRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "JobService.sln"))) return dir.FullName;
        throw new InvalidOperationException("The repository root (JobService.sln) was not found above the test binaries.");
    }

    /// <summary>Runs a script to its end, or for at most 15 minutes (a cold build takes about two): a stuck build fails the suite, it does not hang it.</summary>
    static async Task<(int Code, string Output)> RunAsync(string file, params string[] args)
    {
        var start = new ProcessStartInfo(file, args) { RedirectStandardOutput = true, RedirectStandardError = true };
        using var process = Process.Start(start)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using var limit = new CancellationTokenSource(TimeSpan.FromMinutes(15));
        try { await process.WaitForExitAsync(limit.Token); }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            await process.WaitForExitAsync();
            return (-1, $"{file} {string.Join(' ', args)} ran over 15 minutes: {await stdout}{await stderr}");
        }
        return (process.ExitCode, await stdout + await stderr);
    }
}
