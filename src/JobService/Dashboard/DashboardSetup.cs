using JobService.Hosting;
using JobService.Api;
using JobService.Auth;
using JobService.Data;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.Extensions.FileProviders;
using Microsoft.Extensions.Options;

namespace JobService.Dashboard;

/// <summary>What GET {Dashboard:Path}/session tells the pages: who is signed in, and the token its changes must carry.</summary>
public sealed record DashboardSessionResponse(bool AuthEnabled, string TenantId, IReadOnlyList<string> Scopes, string? AntiforgeryToken,
    int StatsRefreshSeconds);

public sealed record SignInRequest(string? Key);

/// <summary>
/// The ops dashboard: plain HTML, JavaScript modules and CSS from Dashboard/wwwroot (copied beside
/// the binary; nothing to build), which call only the public API and the event streams. Here: its
/// services, its pages, its session (sign-in with an API key, for browsers) and the antiforgery
/// check on changes a session cookie makes.
/// </summary>
public static class DashboardSetup
{
    public static IServiceCollection AddJobServiceDashboard(this IServiceCollection services)
    {
        services.AddOptions<DashboardOptions>().BindConfiguration(DashboardOptions.Section).RefuseUnknownKeys(DashboardOptions.Section).ValidateDataAnnotations().ValidateOnStart();
        services.AddSingleton<ReadDialect>(sp => sp.GetRequiredService<IOptions<DatabaseOptions>>().Value.IsPostgres
            ? new PostgresReadDialect() : new SqliteReadDialect());
        services.AddSingleton<DashboardSession>();
        return services;
    }

    /// <summary>Checks the antiforgery token of every change a session cookie makes; serves the pages and the session endpoints.</summary>
    public static WebApplication UseJobServiceDashboard(this WebApplication app)
    {
        app.UseMiddleware<DashboardAntiforgery>();
        var o = app.Services.GetRequiredService<IOptions<DashboardOptions>>().Value;
        if (!o.Enabled) return app;
        app.UseWhen(http => http.Request.Path.StartsWithSegments(o.Path), branch =>
        {
            branch.UseMiddleware<DashboardGate>();
            branch.Use((http, next) =>
            {
                if (http.Request.Path.Value == o.Path) // the pages' relative paths need the slash
                {
                    http.Response.Redirect(o.Path + "/");
                    return Task.CompletedTask;
                }
                // Only this origin's scripts, styles and connections; no framing (clickjacking).
                http.Response.Headers.ContentSecurityPolicy = "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'; form-action 'self'";
                http.Response.Headers.XContentTypeOptions = "nosniff";
                return next(http);
            });
            var files = new PhysicalFileProvider(Path.Combine(AppContext.BaseDirectory, "Dashboard", "wwwroot"));
            branch.UseDefaultFiles(new DefaultFilesOptions { RequestPath = o.Path, FileProvider = files });
            branch.UseStaticFiles(new StaticFileOptions
            {
                RequestPath = o.Path, FileProvider = files,
                OnPrepareResponse = f => f.Context.Response.Headers.CacheControl = "no-cache", // revalidated: a new build is seen at once
            });
        });
        var session = app.MapGroup(o.Path + "/session").ExcludeFromDescription().RequireRateLimiting(AuthSetup.ReadLimit);
        session.MapGet("/", Session).RequireAuthorization();
        session.MapPost("/", SignIn).AllowAnonymous();
        session.MapDelete("/", SignOut).AllowAnonymous();
        return app;
    }

    static async Task<Ok<DashboardSessionResponse>> Session(HttpContext http, DashboardSession sessions, IOptions<AuthOptions> auth,
        IOptions<DashboardOptions> options, CancellationToken ct)
    {
        var caller = Caller.From(http.User);
        var cookie = DashboardAntiforgery.SessionCookie(http);
        return TypedResults.Ok(new DashboardSessionResponse(auth.Value.Enabled, caller.TenantId, caller.Scopes.Order().ToList(),
            cookie is null ? null : await sessions.TokenAsync(cookie, ct), options.Value.StatsRefreshSeconds));
    }

    /// <summary>Signs in with an API key: 204 and the session cookie, 401 for a key that is not valid, 403 for one that may not read jobs.</summary>
    static async Task<Results<NoContent, ProblemHttpResult>> SignIn(SignInRequest request, HttpContext http, ApiKeyStore keys,
        DashboardSession sessions, IOptions<AuthOptions> auth, IOptions<DashboardOptions> options, ILoggerFactory logs, CancellationToken ct)
    {
        if (!auth.Value.Enabled)
            return TypedResults.Problem(title: "Auth is off", detail: "Auth:Enabled is false: the dashboard needs no sign-in.", statusCode: StatusCodes.Status400BadRequest);
        var key = string.IsNullOrWhiteSpace(request.Key) ? null : await keys.FindAsync(request.Key.Trim(), ct);
        if (key is null)
            return TypedResults.Problem(title: "Unauthorized", detail: "The API key is not valid (unknown, expired or revoked).", statusCode: StatusCodes.Status401Unauthorized);
        // Every page lists or shows jobs: a key that may not read them (events:read alone, say) would
        // sign in to blank pages, so it is told here instead.
        if (!Scope.Grants(key.Scopes.Split(' ', StringSplitOptions.RemoveEmptyEntries), Scope.JobsRead))
            return TypedResults.Problem(title: "Forbidden", statusCode: StatusCodes.Status403Forbidden,
                detail: $"The dashboard shows jobs: this API key lacks the scope '{Scope.JobsRead}'.",
                extensions: new Dictionary<string, object?> { ["missing_scope"] = Scope.JobsRead });
        http.Response.Cookies.Append(DashboardSession.CookieName, await sessions.SealAsync(request.Key!.Trim(), ct), new CookieOptions
        {
            HttpOnly = true, SameSite = SameSiteMode.Strict, Secure = http.Request.IsHttps, Path = "/", IsEssential = true,
        });
        logs.CreateLogger(typeof(DashboardSetup)).LogInformation("Dashboard sign-in by key {KeyId} (tenant {Tenant})", key.Id, key.TenantId);
        return TypedResults.NoContent();
    }

    /// <summary>
    /// Ends the session: stored as signed out (a database failure is a 5xx and the browser keeps
    /// its cookie to try again), then the cookie is deleted; a copy of it is refused wherever it turns up.
    /// </summary>
    static async Task<NoContent> SignOut(HttpContext http, DashboardSession sessions, CancellationToken ct)
    {
        if (DashboardAntiforgery.SessionCookie(http) is { } cookie) await sessions.SignOutAsync(cookie, ct);
        http.Response.Cookies.Delete(DashboardSession.CookieName, new CookieOptions { Path = "/", Secure = http.Request.IsHttps, SameSite = SameSiteMode.Strict });
        return TypedResults.NoContent();
    }

    /// <summary>
    /// With auth off, the pages are served only while the service listens on loopback (open to
    /// anyone who can reach it otherwise), unless Dashboard:AllowAnonymous says so on purpose.
    /// </summary>
    sealed class DashboardGate(RequestDelegate next, IOptions<AuthOptions> auth, IOptions<DashboardOptions> options, IServer server)
    {
        public Task InvokeAsync(HttpContext http)
        {
            if (auth.Value.Enabled || options.Value.AllowAnonymous) return next(http);
            var exposed = Hosting.ListenAddresses.Exposed(server);
            if (exposed.Count == 0) return next(http);
            return ProblemResponse.WriteAsync(http, StatusCodes.Status403Forbidden, "Dashboard refused",
                $"Auth is off and the service listens on {string.Join(", ", exposed)}, beyond this machine: the dashboard would be open to " +
                "anyone. Turn auth on (Auth:Enabled=true) or set Dashboard:AllowAnonymous=true to serve it open on purpose.");
        }
    }
}
