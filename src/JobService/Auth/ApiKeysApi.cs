using System.ComponentModel;
using JobService.Api;
using JobService.Data;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.EntityFrameworkCore;

namespace JobService.Auth;

public sealed record CreateApiKeyRequest(
    [property: Description("Who the key is for, for people.")] string? Name,
    [property: Description("The tenant whose jobs the key creates and sees: letters, digits, '_', '.', '-'.")] string? TenantId,
    [property: Description("Any of jobs:read, jobs:write, events:read, admin.")] IReadOnlyList<string>? Scopes,
    [property: Description("Optional: the key stops working then (ISO 8601).")] DateTimeOffset? ExpiresAt = null,
    [property: Description("Optional: submits per minute for this key, instead of RateLimits:SubmitPerMinute.")] int? RateLimitPerMinute = null);

/// <summary>A key as listed: never the key itself nor its hash.</summary>
public sealed record ApiKeyResponse(Guid Id, string Name, string TenantId, string Prefix, IReadOnlyList<string> Scopes, int? RateLimitPerMinute,
    DateTime CreatedAt, DateTime? LastUsedAt, DateTime? ExpiresAt, DateTime? RevokedAt)
{
    public static ApiKeyResponse From(ApiKey k) => new(k.Id, k.Name, k.TenantId, k.Prefix, k.Scopes.Split(' ', StringSplitOptions.RemoveEmptyEntries),
        k.RateLimitPerMinute, k.CreatedAt, k.LastUsedAt, k.ExpiresAt, k.RevokedAt);
}

/// <summary>A new key: the only time the key itself is shown.</summary>
public sealed record NewApiKeyResponse(string Key, ApiKeyResponse Details);

/// <summary>/api-keys: key management (scope admin). Keys are shown once, stored as their SHA-256.</summary>
public static class ApiKeysApi
{
    public static IEndpointRouteBuilder MapApiKeysApi(this IEndpointRouteBuilder app)
    {
        var keys = app.MapGroup("/api-keys").WithTags("API keys").RequireAuthorization(Scope.Admin).RequireRateLimiting(AuthSetup.ReadLimit)
            .ProducesProblems(401, 403, 429);
        keys.MapPost("/", Create).WithName("CreateApiKey").ProducesProblems(400)
            .WithSummary("Make an API key (shown once)")
            .WithDescription("For a tenant, with scopes, an optional expiry and an optional per-key submit rate. The answer is the only time the key is shown.");
        keys.MapGet("/", List).WithName("ListApiKeys").ProducesProblems(400, 503)
            .WithSummary("List API keys").WithDescription("Every key (or one tenant's, with tenant_id), never the key itself nor its hash.");
        keys.MapDelete("/{id}", Revoke).TakesNoBody().WithName("RevokeApiKey").ProducesProblems(400, 404)
            .WithSummary("Revoke an API key").WithDescription("At once on this instance; on others within Auth:KeyCacheSeconds.");
        keys.MapPost("/{id}/rotate", Rotate).TakesNoBody().WithName("RotateApiKey").ProducesProblems(400, 404)
            .WithSummary("Replace a key's secret").WithDescription("The same id, tenant and scopes with a new key (shown once); the old key stops working.");
        return app;
    }

    static async Task<Results<Created<NewApiKeyResponse>, ValidationProblem>> Create(CreateApiKeyRequest request, JobsDbContext db,
        TimeProvider time, CancellationToken ct)
    {
        var errors = new Dictionary<string, string[]>();
        if (string.IsNullOrWhiteSpace(request.Name) || request.Name.Length > 200) errors["name"] = ["name is required, at most 200 characters."];
        else if (request.Name.Contains('\0')) errors["name"] = [JsonText.NulRule];
        if (request.TenantId is null || !TenantName.IsValid(request.TenantId)) errors["tenant_id"] = [$"tenant_id is required: {TenantName.Rule}."];
        var scopes = request.Scopes ?? [];
        if (scopes.Count == 0 || scopes.Any(s => !Scope.All.Contains(s)))
            errors["scopes"] = [$"scopes must name one or more of {string.Join(", ", Scope.All)}."];
        if (request.RateLimitPerMinute is < 1) errors["rate_limit_per_minute"] = ["rate_limit_per_minute must be at least 1."];
        if (request.ExpiresAt <= time.GetUtcNow()) errors["expires_at"] = ["expires_at must be in the future."];
        if (errors.Count > 0) return TypedResults.ValidationProblem(errors, title: "The API key request is invalid");

        var (key, row) = NewKey(request.Name!, request.TenantId!, scopes, time.GetUtcNow().UtcDateTime);
        row.ExpiresAt = request.ExpiresAt?.UtcDateTime;
        row.RateLimitPerMinute = request.RateLimitPerMinute;
        db.ApiKeys.Add(row);
        await db.SaveChangesAsync(ct);
        return TypedResults.Created($"/api-keys/{row.Id}", new NewApiKeyResponse(key, ApiKeyResponse.From(row)));
    }

    static async Task<Results<Ok<List<ApiKeyResponse>>, ValidationProblem>> List([Microsoft.AspNetCore.Mvc.FromQuery(Name = "tenant_id")] string? tenantId,
        JobsDbContext db, CancellationToken ct)
    {
        if (tenantId is not null && !TenantName.IsValid(tenantId))
            return TypedResults.ValidationProblem(new Dictionary<string, string[]> { ["tenant_id"] = [$"tenant_id is a tenant's id: {TenantName.Rule}."] }, title: "The query is invalid");
        var query = db.ApiKeys.AsNoTracking();
        if (tenantId is not null) query = query.Where(k => k.TenantId == tenantId);
        return TypedResults.Ok((await query.OrderBy(k => k.CreatedAt).ToListAsync(ct)).Select(ApiKeyResponse.From).ToList());
    }

    static async Task<Results<NoContent, ProblemHttpResult>> Revoke(Guid id, JobsDbContext db, ApiKeyStore store, TimeProvider time, CancellationToken ct)
    {
        var now = time.GetUtcNow().UtcDateTime;
        if (await db.ApiKeys.Where(k => k.Id == id).ExecuteUpdateAsync(u => u.SetProperty(k => k.RevokedAt, k => k.RevokedAt ?? now), ct) == 0)
            return NotFound(id);
        store.Forget();
        return TypedResults.NoContent();
    }

    static async Task<Results<Ok<NewApiKeyResponse>, ProblemHttpResult>> Rotate(Guid id, JobsDbContext db, ApiKeyStore store, TimeProvider time,
        CancellationToken ct)
    {
        var now = time.GetUtcNow().UtcDateTime;
        // An expired key is not active: a new secret for it would be dead on arrival (a 200 with a key that is a 401).
        var row = await db.ApiKeys.FirstOrDefaultAsync(k => k.Id == id && k.RevokedAt == null && (k.ExpiresAt == null || k.ExpiresAt > now), ct);
        if (row is null) return NotFound(id);
        var key = KeyMaterial.NewKey();
        (row.Prefix, row.KeyHash) = (KeyMaterial.Lookup(key), KeyMaterial.Hash(key));
        await db.SaveChangesAsync(ct);
        store.Forget();
        return TypedResults.Ok(new NewApiKeyResponse(key, ApiKeyResponse.From(row)));
    }

    static ProblemHttpResult NotFound(Guid id) =>
        TypedResults.Problem(title: "API key not found", detail: $"There is no active API key with id {id}.", statusCode: StatusCodes.Status404NotFound);

    static (string Key, ApiKey Row) NewKey(string name, string tenant, IEnumerable<string> scopes, DateTime now, string? key = null)
    {
        key ??= KeyMaterial.NewKey();
        return (key, new ApiKey
        {
            Id = Guid.CreateVersion7(), Name = name, TenantId = tenant, Prefix = KeyMaterial.Lookup(key), KeyHash = KeyMaterial.Hash(key),
            Scopes = string.Join(' ', scopes.Distinct()), CreatedAt = now,
        });
    }

    /// <summary>What <c>create-key --tenant acme --scopes jobs:read,jobs:write [--name ops]</c> asks for.</summary>
    public sealed record KeyRequest(string Tenant, string[] Scopes, string Name);

    /// <summary>The key the command line asks for, or every argument that is wrong with it (read before the database is touched).</summary>
    public static (KeyRequest? Request, List<string> Wrong) ReadKeyRequest(string[] args, IConfiguration configuration)
    {
        var (own, unknown) = Hosting.CommandLine.Read(args, configuration, "tenant", "scopes", "name");
        var tenant = own.GetValueOrDefault("tenant");
        var scopes = own.GetValueOrDefault("scopes", "").Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        // A flag it does not know (--expires 30d) would otherwise make a key without what was asked for.
        var wrong = unknown.Select(flag => $"create-key does not take {flag}.").ToList();
        if (tenant is null) wrong.Add("--tenant is missing.");
        else if (!TenantName.IsValid(tenant)) wrong.Add($"--tenant '{tenant.Clip(60)}' is not a tenant name: {TenantName.Rule}.");
        if (scopes.Length == 0) wrong.Add("--scopes is missing.");
        wrong.AddRange(scopes.Where(s => !Scope.All.Contains(s)).Select(s => $"--scopes: '{s.Clip(60)}' is not a scope."));
        return (wrong.Count == 0 && tenant is not null ? new KeyRequest(tenant, scopes, own.GetValueOrDefault("name", "command line")) : null, wrong);
    }

    /// <summary><c>create-key</c>: a key for ops, without HTTP. Prints it once, alone on stdout.</summary>
    public static async Task<int> CreateFromCommandLineAsync(IServiceProvider services, KeyRequest request)
    {
        await using var scope = services.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<JobsDbContext>();
        var (key, row) = NewKey(request.Name, request.Tenant, request.Scopes, DateTime.UtcNow);
        db.ApiKeys.Add(row);
        await db.SaveChangesAsync();
        Console.WriteLine(key);
        Console.Error.WriteLine($"Key {row.Prefix}… ({row.Id}) for tenant {request.Tenant}, scopes {row.Scopes}. It is not shown again.");
        return 0;
    }

    /// <summary>Keeps Auth:BootstrapAdminKey in the database as an admin key of the default tenant.</summary>
    public static async Task KeepBootstrapKeyAsync(IServiceProvider services, string key, CancellationToken ct)
    {
        if (!KeyMaterial.LooksLikeKey(key))
            throw new Hosting.StartupRefusedException($"Auth:BootstrapAdminKey must be a key of the form {KeyMaterial.KeyPrefix} and {KeyMaterial.RandomLength} letters or digits.");
        await using var scope = services.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<JobsDbContext>();
        var hash = KeyMaterial.Hash(key);
        // Named for the value it came from: once rotated (a new hash) or revoked, the same setting does not bring it back.
        var name = $"bootstrap (Auth:BootstrapAdminKey {KeyMaterial.Lookup(key)}…)";
        if (await db.ApiKeys.AnyAsync(k => k.KeyHash == hash || k.Name == name, ct)) return;
        db.ApiKeys.Add(NewKey(name, Caller.DefaultTenant, Scope.All, DateTime.UtcNow, key).Row);
        try { await db.SaveChangesAsync(ct); }
        catch (DbUpdateException)
        {
            // Another instance stored it at the same moment: the key's unique hash refused this row. Anything else is an error.
            db.ChangeTracker.Clear();
            if (!await db.ApiKeys.AnyAsync(k => k.KeyHash == hash, ct)) throw;
        }
    }
}

/// <summary>Tenant ids: identifiers, as type names are.</summary>
public static partial class TenantName
{
    public const string Rule = "1 to 100 letters, digits, '_', '.' or '-'";

    public static bool IsValid(string name) => Pattern().IsMatch(name);

    [System.Text.RegularExpressions.GeneratedRegex(@"^[A-Za-z0-9_.-]{1,100}\z")]
    private static partial System.Text.RegularExpressions.Regex Pattern();
}
