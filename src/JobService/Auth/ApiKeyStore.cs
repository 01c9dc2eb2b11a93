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
        var hash = KeyMaterial.Hash(presented);
        ApiKey? key;
        if (_cache.TryGetValue(hash, out var cached) && cached.Until > now) key = cached.Key;
        else
        {
            var generation = Volatile.Read(ref _generation);
            var lookup = KeyMaterial.Lookup(presented);
            await using var db = await contexts.CreateDbContextAsync(ct);
            var candidates = await db.ApiKeys.AsNoTracking().Where(k => k.Prefix == lookup).ToListAsync(ct);
            key = candidates.FirstOrDefault(k => KeyMaterial.Matches(presented, k.KeyHash));
            // Only keys that exist are remembered: random guesses must not grow the cache.
            if (key is not null && generation == Volatile.Read(ref _generation))
            {
                if (_cache.Count >= MaxCached) _cache.Clear();
                _cache[hash] = (key, now.AddSeconds(options.Value.KeyCacheSeconds));
            }
        }
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
        if (!_byId.TryGetValue(id, out var cached) || cached.Until <= now)
        {
            var generation = Volatile.Read(ref _generation);
            await using var db = await contexts.CreateDbContextAsync(ct);
            var row = await db.ApiKeys.AsNoTracking().FirstOrDefaultAsync(k => k.Id == id, ct);
            if (row is null) return null; // ids come only from signed tokens, but nothing unknown is remembered
            cached = (row, now.AddSeconds(options.Value.KeyCacheSeconds));
            if (generation != Volatile.Read(ref _generation)) return IsValid(row, now) ? row : null; // read before a Forget: valid now, not kept
            if (_byId.Count >= MaxCached) _byId.Clear();
            _byId[id] = cached;
        }
        return IsValid(cached.Key, now) ? cached.Key : null;
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
