using JobService.Handlers;
using JobService.Hosting;

namespace JobService.Bench;

/// <summary>The real service (API, workers, or both) in this process, on a loopback port.</summary>
public static class BenchHost
{
    public static async Task<WebApplication> StartAsync(BenchArgs a, string role, params string[] extra)
    {
        var args = new List<string>
        {
            $"--Database:Provider={a.Provider}", $"--ConnectionStrings:Jobs={a.Connection}", $"--Service:Role={role}",
            "--urls=http://127.0.0.1:0", "--Serilog:MinimumLevel=Warning",
            $"--Worker:Concurrency={a.Get("concurrency", "200")}",
            "--Retention:IntervalSeconds=86400",
        };
        // --metrics off: no exporter, so no MeterProvider listens (the cost of metrics, measured by comparison).
        if (a.Get("metrics", "on") == "off") args.Add("--Metrics:Prometheus:Enabled=false");
        args.AddRange(extra);
        var builder = WebApplication.CreateBuilder(args.ToArray());
        builder.AddJobService();
        builder.Services.AddJobHandler<NoopHandler>();
        builder.Services.AddJobHandler<TokensHandler>();
        var app = builder.Build();
        await app.PrepareJobServiceAsync();
        await app.StartAsync();
        return app;
    }

    public static HttpClient Client(WebApplication app) => new() { BaseAddress = new Uri(app.Urls.First()) };
}
