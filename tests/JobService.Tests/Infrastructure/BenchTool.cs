using System.Diagnostics;
using System.Text.Json;

namespace JobService.Tests.Infrastructure;

/// <summary>The benchmark tool (<c>bench/JobService.Bench</c>), which hosts the real service; it is built beside this test project.</summary>
public static class BenchTool
{
    public static string Dll()
    {
        var here = AppContext.BaseDirectory; // …/tests/JobService.Tests/bin/{Configuration}/net10.0/
        var configuration = new DirectoryInfo(here).Parent!.Name;
        var root = Path.GetFullPath(Path.Combine(here, "../../../../.."));
        var dll = Path.Combine(root, "bench/JobService.Bench/bin", configuration, "net10.0/JobService.Bench.dll");
        Assert.True(File.Exists(dll), $"{dll} is missing: build the solution first.");
        return dll;
    }

    /// <summary>Runs one command to its end and returns the JSON object it prints as its last line.</summary>
    public static async Task<JsonElement> RunAsync(params string[] args)
    {
        var start = new ProcessStartInfo("dotnet", [Dll(), .. args]) { RedirectStandardOutput = true, RedirectStandardError = true };
        using var process = Process.Start(start)!;
        var output = process.StandardOutput.ReadToEndAsync();
        var errors = process.StandardError.ReadToEndAsync();
        try { await process.WaitForExitAsync().WaitAsync(TimeSpan.FromMinutes(3)); }
        finally { if (!process.HasExited) process.Kill(entireProcessTree: true); } // a hung run does not outlive the test
        Assert.True(process.ExitCode == 0, $"bench {string.Join(' ', args)} exited with {process.ExitCode}: {await errors}");
        var last = (await output).TrimEnd().Split('\n')[^1];
        return JsonDocument.Parse(last).RootElement.Clone();
    }
}
