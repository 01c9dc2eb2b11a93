using JobService.Hosting;

// The container's HEALTHCHECK: the runtime image has no curl, so the binary asks itself.
if (args is ["healthcheck", ..])
    return await HealthProbe.RunAsync(args.Length > 1 ? args[1] : "http://127.0.0.1:8080/health/ready");
if (CommandLine.UnknownVerb(args) is { } notACommand)
    return CommandLine.Refuse([notACommand]);
if (args is ["help" or "--help" or "-h", ..])
{
    Console.WriteLine(CommandLine.Usage);
    return 0;
}

try
{
    var builder = WebApplication.CreateBuilder(args);
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
    await app.RunAsync();
    return 0;
}
catch (Exception e) when (StartupFailure.Describe(e) is { } line && StartupFailure.IsOwnProcess)
{
    // A setting or a database an operator must fix: one line that names it, not a stack trace.
    Console.Error.WriteLine($"JobService could not start: {line}");
    return 1;
}

public partial class Program;
