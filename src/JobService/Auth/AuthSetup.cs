using JobService.Hosting;
using System.Threading.RateLimiting;
using Microsoft.AspNetCore.Authorization;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.RateLimiting;
using Microsoft.Extensions.Options;

namespace JobService.Auth;

public static class AuthSetup
{
    /// <summary>Policy names of the rate limiter.</summary>
    public const string SubmitLimit = "submit", ReadLimit = "read", StreamLimit = "streams";

    /// <param name="servesApi">
    /// Whether this node serves the API (Service:Role all or api). A worker-only node serves /health
    /// (open) and /metrics (behind its scrape token, ScrapeToken), no route that asks for a key: it
    /// gets the settings and stores, not ASP.NET's authentication, authorization and rate limits.
    /// With those registered, WebApplication adds their middleware itself, and the authorization
    /// middleware builds every endpoint's request delegate as the host starts (its policy cache):
    /// about 130 methods JIT-compiled before a worker's first claim (docs/benchmarks.md, forty-first session).
    /// </param>
    public static IServiceCollection AddJobServiceAuth(this IServiceCollection services, bool servesApi)
    {
        services.AddOptions<AuthOptions>().BindConfiguration(AuthOptions.Section).RefuseUnknownKeys(AuthOptions.Section).ValidateDataAnnotations().ValidateOnStart();
        services.AddOptions<RateLimitOptions>().BindConfiguration(RateLimitOptions.Section).RefuseUnknownKeys(RateLimitOptions.Section).ValidateDataAnnotations().ValidateOnStart();
        services.AddOptions<TenantOptions>().BindConfiguration(TenantOptions.Section).RefuseUnknownKeys(TenantOptions.Section).ValidateDataAnnotations().ValidateOnStart();
        services.AddSingleton<ApiKeyStore>();
        services.AddSingleton<StreamTokens>();
        services.AddSingleton<ServiceSecretStore>();
        services.AddSingleton<Hosting.IStartedCheck, ExposedWithoutAuth>();
        services.AddSingleton<Hosting.IStartupStep, BootstrapKeyStep>();
        if (!servesApi) return services;
        // AddAuthentication's parts without its AddDataProtection: nothing here uses it (the
        // dashboard seals its session cookie and antiforgery token with the service's own secret,
        // DashboardSession), and its hosted service read or created a key ring in the user's
        // profile at every start (~25 ms of a worker's, and a warning in a container).
        services.AddAuthenticationCore(o => o.DefaultScheme = ApiKeyAuthentication.SchemeName);
        services.AddWebEncoders();
        new Microsoft.AspNetCore.Authentication.AuthenticationBuilder(services)
            .AddScheme<Microsoft.AspNetCore.Authentication.AuthenticationSchemeOptions, ApiKeyAuthentication>(ApiKeyAuthentication.SchemeName, null);
        services.AddSingleton<IAuthorizationHandler, ScopeHandler>();
        services.AddSingleton<Microsoft.AspNetCore.Authorization.IAuthorizationMiddlewareResultHandler, ScopeDenied>();
        services.AddAuthorization(o =>
        {
            // No scheme named on the policies: the key scheme is the default, which the authentication
            // middleware has already run, so they read HttpContext.User (naming it made every request
            // authenticate again through the evaluator and merge a second principal).
            foreach (var scope in Scope.All)
                o.AddPolicy(scope, p => p.RequireAuthenticatedUser().AddRequirements(new ScopeRequirement(scope)));
        });
        services.AddRateLimiter(o =>
        {
            o.RejectionStatusCode = StatusCodes.Status429TooManyRequests; // the middleware's own default is 503
            o.OnRejected = RateLimited.WriteAsync;
            o.AddPolicy(SubmitLimit, http =>
            {
                var limits = http.RequestServices.GetRequiredService<IOptions<RateLimitOptions>>().Value;
                var own = int.TryParse(http.User.FindFirst(Caller.ClaimTypes.RateLimit)?.Value, out var r) ? r : (int?)null;
                var perMinute = own ?? limits.SubmitPerMinute; // a key's own rate wins
                // A key's own rate caps its burst too: at 2 a minute, a burst of 1,000 would be the rate.
                var burst = Math.Min(limits.SubmitBurst, own ?? int.MaxValue);
                return RateLimitPartition.GetTokenBucketLimiter($"{Partition(http)}|{perMinute}|{burst}", _ => PerMinute(perMinute, burst));
            });
            o.AddPolicy(ReadLimit, http =>
            {
                // A bucket as well (it was a sliding window): a refusal then says truly when to come back (Retry-After).
                var perMinute = http.RequestServices.GetRequiredService<IOptions<RateLimitOptions>>().Value.ReadsPerMinute;
                return RateLimitPartition.GetTokenBucketLimiter($"{Partition(http)}|{perMinute}", _ => PerMinute(perMinute, burst: perMinute));
            });
            o.AddPolicy(StreamLimit, http =>
            {
                var limit = http.RequestServices.GetRequiredService<IOptions<RateLimitOptions>>().Value.StreamsPerKey;
                return RateLimitPartition.GetConcurrencyLimiter($"{Partition(http)}|{limit}", _ => new ConcurrencyLimiterOptions { PermitLimit = limit, QueueLimit = 0 });
            });
        });
        return services;
    }

    /// <summary>
    /// A token bucket refilled at exactly <paramref name="perMinute"/> a minute, <paramref name="burst"/>
    /// tokens at most. Whole tokens at a time, at a period of half a second to a second (one
    /// token every 60/perMinute seconds below 60 a minute): 119 a minute is one token every 504 ms,
    /// not 1 a second. Its refusals carry when the next token comes, which Retry-After says.
    /// </summary>
    public static TokenBucketRateLimiterOptions PerMinute(int perMinute, int burst)
    {
        var tokens = Math.Max(1, perMinute / 60);
        return new TokenBucketRateLimiterOptions
        {
            TokenLimit = burst, TokensPerPeriod = tokens, ReplenishmentPeriod = TimeSpan.FromMinutes(1) * tokens / perMinute,
            QueueLimit = 0, AutoReplenishment = true,
        };
    }

    /// <summary>
    /// Limits are per key, or per client IP when auth is off. A stream token's streams count per key
    /// and client: a frontend mints tokens for many browsers with one key, and one browser must not
    /// use up the streams of the others (nor the key's own).
    /// </summary>
    static string Partition(HttpContext http)
    {
        var ip = http.Connection.RemoteIpAddress;
        if (http.User.FindFirst(Caller.ClaimTypes.KeyId)?.Value is not { } key) return $"ip:{ip}";
        return http.User.HasClaim(c => c.Type == Caller.ClaimTypes.OnlyJob) ? $"token:{key}|ip:{ip}" : $"key:{key}";
    }

    /// <summary>
    /// Auth, rate limits, then (per endpoint) the scope each route needs. Authentication runs first
    /// so that limits are per key.
    /// </summary>
    public static IApplicationBuilder UseJobServiceAuth(this IApplicationBuilder app) =>
        app.UseAuthentication().UseRateLimiter().UseAuthorization();

    /// <summary>
    /// Keeps the bootstrap admin key (Auth:BootstrapAdminKey) in the database before the service
    /// says it is ready: a deployment that waits for /health/ready and then uses the key must
    /// not meet a 401 (it did when the key was stored after the host had started).
    /// </summary>
    sealed class BootstrapKeyStep(IOptions<AuthOptions> options, IServiceProvider services) : Hosting.IStartupStep
    {
        public Task RunAsync(CancellationToken ct) => options.Value is { Enabled: true, BootstrapAdminKey: { Length: > 0 } key }
            ? ApiKeysApi.KeepBootstrapKeyAsync(services, key, ct)
            : Task.CompletedTask;
    }

    /// <summary>
    /// Refuses to serve with auth off on an address beyond loopback, unless Auth:AllowAnonymous says
    /// so on purpose. Where it listens is known once the server started; until this passed the
    /// service is not ready (<see cref="Hosting.IStartedCheck"/>), so nothing but 503s is served.
    /// </summary>
    sealed class ExposedWithoutAuth(IOptions<AuthOptions> options, IServer server) : Hosting.IStartedCheck
    {
        public void Check()
        {
            var o = options.Value;
            var exposed = Hosting.ListenAddresses.Exposed(server);
            if (!o.Enabled && !o.AllowAnonymous && exposed.Count > 0)
                throw new Hosting.StartupRefusedException(
                    $"Auth:Enabled is false but the service listens on {string.Join(", ", exposed)}, beyond this machine: turn auth on " +
                    "(Auth:Enabled=true, with Auth:BootstrapAdminKey for the first key) or set Auth:AllowAnonymous=true to serve it open on purpose.");
        }
    }
}
