using JobService.Api;
using JobService.Auth;
using JobService.BuiltIn;
using JobService.Dashboard;
using JobService.Data;
using JobService.Events;
using JobService.Handlers;
using JobService.Llm;
using JobService.Observability;
using JobService.Transitions;
using JobService.Webhooks;
using JobService.Worker;
using Microsoft.AspNetCore.HttpOverrides;
using Microsoft.Extensions.Configuration.Json;
using Microsoft.Extensions.FileProviders;
using Microsoft.Extensions.Options;

namespace JobService.Hosting;

/// <summary>Wires the service: Program.cs calls <see cref="AddJobService"/>, builds, then <see cref="PrepareJobServiceAsync"/>.</summary>
public static class ServiceSetup
{
    /// <param name="logsToStandardError">The log on stderr only: for a command-line verb whose stdout is its answer.</param>
    public static WebApplicationBuilder AddJobService(this WebApplicationBuilder builder, bool logsToStandardError = false)
    {
        // The repository's appsettings.json is copied beside the binary: read it first, so that
        // the service runs from any folder, and let the content root's file, environment
        // variables (Database__Provider=postgres) and the command line override it.
        builder.Configuration.Sources.Insert(0, new JsonConfigurationSource
        {
            Path = "appsettings.json",
            Optional = true,
            FileProvider = new PhysicalFileProvider(AppContext.BaseDirectory),
        });
        var service = builder.Configuration.GetSection(ServiceOptions.Section).Get<ServiceOptions>() ?? new ServiceOptions();
        // First: the runtime compiles what the last start of this role compiled, on the idle core,
        // while this thread builds the host. Only a known role names a file (the setting is checked later).
        if (service.JitProfileDirectory is { Length: > 0 } profiles && (service.RunsApi || service.RunsWorkers))
            StartupJitProfile.Start(Path.Combine(AppContext.BaseDirectory, profiles), service.Role);
        builder.AddJobServiceLogging(logsToStandardError);

        var services = builder.Services;
        services.AddSingleton(TimeProvider.System);
        services.AddHostedService<CompilerPriority>();
        services.AddSingleton<JobServiceMetrics>();
        services.AddJobServiceObservability(builder.Configuration);
        services.AddJobsDatabase(builder.Configuration);
        services.AddOptions<ApiOptions>().BindConfiguration(ApiOptions.Section).RefuseUnknownKeys(ApiOptions.Section).ValidateDataAnnotations().ValidateOnStart();

        services.AddSingleton<JobTypeRegistry>();
        services.AddJobHandler<EchoHandler>();
        services.AddLlmJobTypes(builder.Configuration);

        services.AddOptions<ServiceOptions>().BindConfiguration(ServiceOptions.Section).RefuseUnknownKeys(ServiceOptions.Section).PostConfigure<IConfiguration>(ServiceOptions.ReadLists)
            .ValidateDataAnnotations().ValidateOnStart();
        services.AddJobTransitions();
        services.AddSingleton<Api.JobPolls>();
        services.AddJobServiceAuth(servesApi: service.RunsApi);
        services.AddJobServiceDashboard();
        if (service.RunsWorkers) services.AddJobWorkers();
        services.AddJobServiceWebhooks(service.RunsWorkers);

        services.ConfigureHttpJsonOptions(o => JobJson.Configure(o.SerializerOptions));
        services.Configure<Microsoft.AspNetCore.Mvc.JsonOptions>(o => JobJson.Configure(o.JsonSerializerOptions));
        services.Configure<RouteHandlerOptions>(o => o.ThrowOnBadRequest = true); // so binding errors reach ProblemExceptionHandler
        services.AddSingleton<IProblemDetailsWriter, ProblemJsonWriter>(); // before AddProblemDetails: tried first, always writes
        services.AddProblemDetails(o => o.CustomizeProblemDetails = c =>
        {
            c.ProblemDetails.Detail ??= DefaultDetail(c.HttpContext);
            HeadAsGet.ListInAllow(c.HttpContext);
        });
        services.AddExceptionHandler<ProblemExceptionHandler>();

        services.AddJobServiceOpenApi();
        return builder;
    }

    /// <summary>
    /// What Service:TrustedProxies believes: the client's address and scheme, from those proxies only
    /// (not ASP.NET's default of loopback), through a chain of them (no limit on the hops, each one
    /// checked). The host is not taken from them.
    /// </summary>
    static ForwardedHeadersOptions ForwardedFrom(ServiceOptions service)
    {
        var options = new ForwardedHeadersOptions { ForwardedHeaders = ForwardedHeaders.XForwardedFor | ForwardedHeaders.XForwardedProto, ForwardLimit = null };
        options.KnownProxies.Clear();
        options.KnownIPNetworks.Clear();
        foreach (var network in service.TrustedProxyNetworks()) options.KnownIPNetworks.Add(network);
        return options;
    }

    /// <summary>Answers that ASP.NET produces without a word (status-code pages) still say what was wrong.</summary>
    static string? DefaultDetail(HttpContext http) => http.Response.StatusCode switch
    {
        StatusCodes.Status404NotFound => $"There is nothing at {http.Request.Path}. The API is described at /swagger.",
        StatusCodes.Status405MethodNotAllowed => $"{http.Request.Method} is not allowed on {http.Request.Path}.",
        StatusCodes.Status415UnsupportedMediaType => "The request body must be JSON, sent with Content-Type: application/json.",
        _ => null,
    };

    /// <summary>
    /// Checks the registry (two handlers with one type name stop the start-up here) and maps the
    /// endpoints. The database is waited for and migrated when the host starts (<see cref="DatabaseStartup"/>).
    /// </summary>
    public static async Task PrepareJobServiceAsync(this WebApplication app)
    {
        var database = app.Services.GetRequiredService<DatabaseStartup>();
        database.BeginWaiting(); // the first connection's cost overlaps what follows
        try
        {
            // Settings are checked before the host starts: a bad one stops here with its key named.
            app.Services.GetService<IStartupValidator>()?.Validate();
            var registry = app.Services.GetRequiredService<JobTypeRegistry>();
            if (app.Services.GetRequiredService<IOptions<ServiceOptions>>().Value.RunsApi)
                foreach (var type in registry.All) _ = type.PayloadSchema; // one that cannot be published stops the start, not every submit
        }
        catch
        {
            await database.AbandonAsync();
            throw;
        }
        app.Services.LogLlmProviders();
        if (StartupJitProfile.Problem is { } problem)
            app.Logger.LogInformation("The next start will not be faster: {Problem} (Service:JitProfileDirectory; empty turns this off)", problem);
        app.MapJobService();
    }

    static WebApplication MapJobService(this WebApplication app)
    {
        // First, so that the log, the limits per client IP and the cookie's Secure flag all see the client's side.
        if (app.Services.GetRequiredService<IOptions<ServiceOptions>>().Value is { TrustedProxies.Count: > 0 } service)
            app.UseForwardedHeaders(ForwardedFrom(service));
        app.UseJobServiceRequestLogging();
        app.UseMiddleware<HeadAsGet>();
        app.UseRouting(); // after HEAD became GET (else WebApplication routes first of all)
        app.UseExceptionHandler();
        app.UseStatusCodePages();
        app.UseMiddleware<DatabaseNotReady>();
        app.UseMiddleware<RequestBodyLimit>();
        app.UseMiddleware<JsonCharset>();
        app.UseMiddleware<CrossSiteRefusal>();
        var runsApi = app.Services.GetRequiredService<IOptions<ServiceOptions>>().Value.RunsApi;
        if (runsApi) app.UseJobServiceAuth(); // a worker-only node has no route that asks for a key (AddJobServiceAuth)
        app.UseMiddleware<UnknownQuery>(); // after auth: a caller who may not ask learns nothing of what may be asked

        if (runsApi)
        {
            // A worker-only instance has no API to describe. Swagger's two middlewares match the path of
            // every request they see (a route template, a regular expression): only /swagger's reach them.
            app.UseWhen(http => http.Request.Path.StartsWithSegments("/swagger"),
                swagger => swagger.UseSwagger().UseSwaggerUI(o => o.DocumentTitle = "JobService"));
            app.MapGet("/", () => Results.Redirect("/swagger")).ExcludeFromDescription();
            app.MapJobsApi();
            app.MapJobTypesApi();
            app.MapEventsApi();
            app.MapApiKeysApi();
            app.MapBulkJobsApi();
            app.MapJobTypePausesApi();
            app.MapWorkersApi();
            app.UseJobServiceDashboard(); // the pages, and the antiforgery check on what their session cookie changes
            app.MapWebhooksApi();
        }
        app.MapHealthApi();
        app.MapJobServiceMetrics();
        return app;
    }
}
