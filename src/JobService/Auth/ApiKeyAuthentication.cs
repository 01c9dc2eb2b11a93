using System.Security.Claims;
using System.Text.Encodings.Web;
using Microsoft.AspNetCore.Authentication;
using Microsoft.Extensions.Options;

namespace JobService.Auth;

/// <summary>
/// Authenticates a request by its API key (<c>Authorization: Bearer jsk_…</c> or <c>X-API-Key</c>, or
/// the dashboard's session cookie, which holds one), or, on GET /jobs/{id}/events only, by a stream
/// token in <c>?access_token=</c>. With auth off,
/// every request is the default tenant with every scope. Failures are 401 ProblemDetails with
/// <c>WWW-Authenticate: Bearer</c>; a missing scope is a 403 naming it (<see cref="ScopeDenied"/>).
/// </summary>
public sealed class ApiKeyAuthentication(
    IOptionsMonitor<AuthenticationSchemeOptions> schemes, ILoggerFactory logger, UrlEncoder encoder,
    IOptions<AuthOptions> auth, ApiKeyStore keys, StreamTokens streams, Dashboard.DashboardSession sessions)
    : AuthenticationHandler<AuthenticationSchemeOptions>(schemes, logger, encoder)
{
    public const string SchemeName = "ApiKey";
    /// <summary>
    /// Claims set when the dashboard's session cookie authenticated the request (changes then need
    /// its antiforgery token): the session's id, and when it expires (UTC ticks).
    /// </summary>
    public const string SessionClaim = "session", SessionExpiresClaim = "session_expires";

    /// <summary>The dashboard session that authenticated the request, if one did.</summary>
    public static (Guid Id, DateTime ExpiresAt)? SessionOf(ClaimsPrincipal user) =>
        Guid.TryParseExact(user.FindFirstValue(SessionClaim), "N", out var id) && long.TryParse(user.FindFirstValue(SessionExpiresClaim), out var ticks)
            ? (id, new DateTime(ticks, DateTimeKind.Utc)) : null;

    protected override async Task<AuthenticateResult> HandleAuthenticateAsync()
    {
        if (!auth.Value.Enabled) return Success(Caller.DefaultTenant, Scope.All, keyId: null);

        if (Request.Query["access_token"] is { Count: 1 } token && StreamPath(Request.Path) is { } jobId)
        {
            var grant = await streams.ReadAsync(token[0]!, Context.RequestAborted);
            if (grant is null || grant.JobId != jobId) return AuthenticateResult.Fail("The stream token is not valid for this job.");
            if (streams.IsExpired(grant)) return AuthenticateResult.Fail("The stream token has expired: ask POST /jobs/{id}/stream-token for a new one.");
            if (await TokenRefusalAsync(grant, Context.RequestAborted) is { } refusal) return AuthenticateResult.Fail(refusal);
            Context.Features.Set(new CallerCheck(async ct => await TokenRefusalAsync(grant, ct) is null)); // an open stream asks again
            return Success(grant.TenantId, [Scope.EventsRead], grant.KeyId, onlyJob: jobId);
        }

        var presented = Presented();
        var cookie = presented is null ? Request.Cookies[Dashboard.DashboardSession.CookieName] : null;
        Dashboard.DashboardSession.Session? session = null;
        if (cookie is not null)
        {
            // The dashboard's sign-in: the same key, sealed in a cookie (Dashboard/DashboardSession.cs).
            session = await sessions.OpenSessionAsync(cookie, Context.RequestAborted);
            if (session is null) return AuthenticateResult.Fail("The dashboard session has expired or is not valid: sign in again.");
            presented = session.ApiKey;
        }
        if (presented is null) return AuthenticateResult.NoResult();
        var key = await keys.FindAsync(presented, Context.RequestAborted);
        if (key is null) return AuthenticateResult.Fail("The API key is not valid (unknown, expired or revoked).");
        var keyHash = key.KeyHash;
        Context.Features.Set(new CallerCheck(async ct => await keys.FindByIdAsync(key.Id, ct) is { } now && now.KeyHash == keyHash
            && (cookie is null || await sessions.OpenAsync(cookie, ct) is not null)));
        return Success(key.TenantId, key.Scopes.Split(' ', StringSplitOptions.RemoveEmptyEntries), key.Id, rateLimit: key.RateLimitPerMinute,
            session: session);
    }

    /// <summary>
    /// Why a genuine, unexpired stream token no longer opens its stream, or null: it lives no longer
    /// than the key that asked for it, as it was then (a rotation ends it too), nor, when a dashboard
    /// session asked for it, than that session.
    /// </summary>
    async Task<string?> TokenRefusalAsync(StreamTokens.Grant grant, CancellationToken ct) =>
        grant.KeyId is not { } keyId || await keys.FindByIdAsync(keyId, ct) is not { } minter || !grant.IsFrom(minter)
            ? "The API key that asked for this stream token is no longer valid (expired, revoked or rotated)."
            : grant.SessionId is { } asker && await sessions.IsSignedOutAsync(asker, grant.ExpiresAt, ct)
                ? "The dashboard session that asked for this stream token has signed out."
                : null;

    string? Presented()
    {
        var header = Request.Headers.Authorization.ToString();
        if (header.StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase)) return header["Bearer ".Length..].Trim();
        return Request.Headers["X-API-Key"] is { Count: 1 } x ? x[0] : null;
    }

    /// <summary>The job id of a GET /jobs/{id}/events path, the only place a stream token opens.</summary>
    static Guid? StreamPath(PathString path) =>
        path.Value?.Split('/') is ["", "jobs", var id, "events"] && Guid.TryParse(id, out var g) ? g : null;

    AuthenticateResult Success(string tenant, IEnumerable<string> scopes, Guid? keyId, Guid? onlyJob = null, int? rateLimit = null,
        Dashboard.DashboardSession.Session? session = null)
    {
        var claims = new List<Claim> { new(Caller.ClaimTypes.Tenant, tenant) };
        claims.AddRange(scopes.Select(s => new Claim(Caller.ClaimTypes.Scope, s)));
        if (keyId is not null) claims.Add(new Claim(Caller.ClaimTypes.KeyId, keyId.Value.ToString()));
        if (onlyJob is not null) claims.Add(new Claim(Caller.ClaimTypes.OnlyJob, onlyJob.Value.ToString()));
        if (rateLimit is not null) claims.Add(new Claim(Caller.ClaimTypes.RateLimit, rateLimit.Value.ToString()));
        if (session is not null)
        {
            claims.Add(new Claim(SessionClaim, session.Id.ToString("N")));
            claims.Add(new Claim(SessionExpiresClaim, session.ExpiresAt.Ticks.ToString()));
        }
        return AuthenticateResult.Success(new AuthenticationTicket(new ClaimsPrincipal(new ClaimsIdentity(claims, SchemeName)), SchemeName));
    }

    protected override async Task HandleChallengeAsync(AuthenticationProperties properties)
    {
        var failure = (await HandleAuthenticateOnceSafeAsync()).Failure?.Message;
        Response.Headers.WWWAuthenticate = "Bearer";
        await Api.ProblemResponse.WriteAsync(Context, StatusCodes.Status401Unauthorized, "Unauthorized",
            failure ?? "An API key is required: send Authorization: Bearer <key> (or X-API-Key).");
    }
}
