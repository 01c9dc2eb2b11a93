using JobService.Hosting;

// The container's HEALTHCHECK: the runtime image has no curl, so the binary asks itself.
if (args is ["healthcheck", ..])
    return await HealthProbe.RunAsync(args.Length > 1 ? args[1] : "http://127.0.0.1:8080/health/ready");

var builder = WebApplication.CreateBuilder(args);
builder.AddJobService();
var app = builder.Build();

if (args is ["migrate", ..])
{
    await app.Services.MigrateJobsDatabaseAsync();
    return 0;
}

await app.PrepareJobServiceAsync();
await app.RunAsync();
return 0;

public partial class Program;
