using JobService.Data;
using JobService.Handlers;
using JobService.Hosting;
using Microsoft.Extensions.Options;

// The container's HEALTHCHECK: the runtime image has no curl, so the binary asks itself.
if (args is ["healthcheck", ..])
    return await HealthProbe.RunAsync(args.Length > 1 ? args[1] : "http://127.0.0.1:8080/health/ready");

var builder = WebApplication.CreateBuilder(args);
builder.AddJobService();
var app = builder.Build();

// Fail the start-up on a bad registry (duplicate type names) before anything is served.
app.Services.GetRequiredService<JobTypeRegistry>();

if (args is ["migrate", ..])
{
    await app.Services.MigrateJobsDatabaseAsync();
    return 0;
}
if (app.Services.GetRequiredService<IOptions<DatabaseOptions>>().Value.MigrateOnStartup)
    await app.Services.MigrateJobsDatabaseAsync();

app.MapJobService();
await app.RunAsync();
return 0;

public partial class Program;
