using JobService;
using JobService.Hosting;

// The container's HEALTHCHECK: the runtime image has no curl, so the binary asks itself.
if (args is ["healthcheck", ..])
    return await HealthProbe.RunAsync(args.Length > 1 ? args[1] : HealthProbe.DefaultUrl(Environment.GetEnvironmentVariable("ASPNETCORE_URLS"), Environment.GetEnvironmentVariable("ASPNETCORE_HTTP_PORTS")));
if (CommandLine.UnknownVerb(args) is { } notACommand)
    return CommandLine.Refuse([notACommand]);
if (args is ["help" or "--help" or "-h", .. var rest])
{
    if (rest is [var word, ..] && !word.StartsWith('-') && !word.StartsWith('/') && !word.Contains('=')) // settings pass, as after any verb
        return CommandLine.Refuse([$"help takes nothing after it, not {word.Clip(60)}."]);
    Console.WriteLine(CommandLine.Usage);
    return 0;
}

try
{
    var builder = WebApplication.CreateBuilder(args);
    if (args is ["migrate" or "create-key", ..]) // a verb's short run is no start for the service's next to learn from
        builder.Configuration.AddInMemoryCollection([new($"{ServiceOptions.Section}:{nameof(ServiceOptions.JitProfileDirectory)}", "")]);
    builder.AddJobService(logsToStandardError: args is ["create-key", ..]); // its stdout is the key alone
    var app = builder.Build();

    if (args is ["migrate", ..])
    {
        if (CommandLine.Read(args, app.Configuration).Unknown is [_, ..] stray)
            return CommandLine.Refuse(stray.Select(word => $"migrate does not take {word}."));
        await app.Services.WaitForDatabaseAsync();
        await app.Services.MigrateJobsDatabaseAsync();
        return 0;
    }

    if (args is ["create-key", ..])
    {
        var (request, wrong) = JobService.Auth.ApiKeysApi.ReadKeyRequest(args, app.Configuration);
        if (request is null) return CommandLine.Refuse(wrong);
        await app.Services.WaitForDatabaseAsync();
        await app.Services.MigrateJobsDatabaseAsync();
        return await JobService.Auth.ApiKeysApi.CreateFromCommandLineAsync(app.Services, request);
    }

    await app.PrepareJobServiceAsync();
    await using (app)
    {
        try
        {
            await app.StartAsync();
        }
        catch
        {
            // The server already listens (it answers 503 while the start-up waits): stopped before the
            // container is disposed, requests in flight end with their answers, not ObjectDisposedException.
            using var stopping = new CancellationTokenSource(TimeSpan.FromSeconds(5));
            try { await app.StopAsync(stopping.Token); }
            catch (Exception) { } // what is told is why the start failed, below
            throw;
        }
        await app.WaitForShutdownAsync();
    }
    return 0;
}
catch (Exception e) when (StartupFailure.Describe(e) is { } line && StartupFailure.IsOwnProcess)
{
    // A setting or a database an operator must fix: one line that names it, not a stack trace.
    Console.Error.WriteLine($"JobService could not start: {line}");
    return 1;
}
catch (OperationCanceledException) when (StartupFailure.IsOwnProcess)
{
    // Asked to stop (SIGTERM) while the start-up waited, for the database most often: a stop, not a crash.
    Console.Error.WriteLine("JobService stopped before it was ready: it was asked to stop while its start-up waited.");
    return 0;
}

public partial class Program;
