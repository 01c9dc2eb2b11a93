using System.Collections.Concurrent;
using JobService.Data;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;

namespace JobService.Auth;

/// <summary>
/// Finds the key a request presents: by its prefix in the database, then its hash compared in
/// constant time. A valid key is remembered for <see cref="AuthOptions.KeyCacheSeconds"/>, so a
/// revoke takes effect on every instance within that bound (at once on the instance that revoked
/// it). Last use is written at most once a minute per key.
/// </summary>
public sealed class ApiKeyStore(IDbContextFactory<JobsDbContext> contexts, IOptions<AuthOptions> options, TimeProvider time,
    ILogger<ApiKeyStore> log)
{
    const int MaxCached = 10_000;
    readonly ConcurrentDictionary<string, (ApiKey? Key, DateTime Until)> _cache = new();
    readonly ConcurrentDictionary<Guid, (ApiKey? Key, DateTime Until)> _byId = new();
    readonly ConcurrentDictionary<Guid, DateTime> _lastUseWritten = new();
    /// <summary>Bumped by <see cref="Forget"/>: a read begun before it must not put what it read back (a revoke here would not be at once).</summary>
    int _generation;

    /// <summary>The key, if the presented text is a valid, unexpired, unrevoked key.</summary>
    public async Task<ApiKey?> FindAsync(string presented, CancellationToken ct)
    {
        if (!KeyMaterial.LooksLikeKey(presented)) return null;
        var now = time.GetUtcNow().UtcDateTime;
        var lookup = KeyMaterial.Lookup(presented);
        var key = await RememberedAsync(_cache, KeyMaterial.Hash(presented), now, async (db, token) =>
            (await db.ApiKeys.AsNoTracking().Where(k => k.Prefix == lookup).ToListAsync(token)).FirstOrDefault(k => KeyMaterial.Matches(presented, k.KeyHash)), ct);
        if (!IsValid(key, now)) return null;
        _ = TouchAsync(key!.Id, now);
        return key;
    }

    /// <summary>
    /// The key with this id, if it is still valid: what a stream token, which holds its key's id and
    /// not the key, is checked against. Remembered like <see cref="FindAsync"/>, with the same bound.
    /// </summary>
    public async Task<ApiKey?> FindByIdAsync(Guid id, CancellationToken ct)
    {
        var now = time.GetUtcNow().UtcDateTime;
        var key = await RememberedAsync(_byId, id, now, (db, token) => db.ApiKeys.AsNoTracking().FirstOrDefaultAsync(k => k.Id == id, token), ct);
        return IsValid(key, now) ? key : null;
    }

    /// <summary>
    /// The key row remembered under <paramref name="name"/>, or read and remembered for
    /// Auth:KeyCacheSeconds. Only rows that exist are remembered (random guesses must not grow the
    /// cache), and not a row read before a <see cref="Forget"/> (a revoke here would not be at once).
    /// </summary>
    async Task<ApiKey?> RememberedAsync<TName>(ConcurrentDictionary<TName, (ApiKey? Key, DateTime Until)> cache, TName name, DateTime now,
        Func<JobsDbContext, CancellationToken, Task<ApiKey?>> read, CancellationToken ct) where TName : notnull
    {
        if (cache.TryGetValue(name, out var cached) && cached.Until > now) return cached.Key;
        var generation = Volatile.Read(ref _generation);
        ApiKey? key;
        await using (var db = await contexts.CreateDbContextAsync(ct)) key = await read(db, ct);
        if (key is not null && generation == Volatile.Read(ref _generation))
        {
            if (cache.Count >= MaxCached) cache.Clear();
            cache[name] = (key, now.AddSeconds(options.Value.KeyCacheSeconds));
        }
        return key;
    }

    static bool IsValid(ApiKey? key, DateTime now) => key is not null && key.RevokedAt is null && !(key.ExpiresAt <= now);

    /// <summary>Forgets what this instance remembered, so a revoke or rotation here takes effect at once.</summary>
    public void Forget()
    {
        Interlocked.Increment(ref _generation);
        _cache.Clear();
        _byId.Clear();
    }

    async Task TouchAsync(Guid id, DateTime now)
    {
        if (_lastUseWritten.TryGetValue(id, out var last) && now - last < TimeSpan.FromMinutes(1)) return;
        _lastUseWritten[id] = now;
        try
        {
            await using var db = await contexts.CreateDbContextAsync();
            await db.ApiKeys.Where(k => k.Id == id).ExecuteUpdateAsync(u => u.SetProperty(k => k.LastUsedAt, now));
        }
        catch (Exception e)
        {
            log.LogDebug("Could not record the last use of key {KeyId}: {Error}", id, DatabaseErrors.OneLine(e)); // a hint, not worth failing a request
        }
    }
}
