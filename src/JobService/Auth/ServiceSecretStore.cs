using System.Collections.Concurrent;
using System.Security.Cryptography;
using JobService.Data;
using Microsoft.EntityFrameworkCore;

namespace JobService.Auth;

/// <summary>
/// Secrets every instance must share (the keys that sign stream tokens and dashboard sessions):
/// 32 random bytes made once by whichever instance asks first, kept in <c>service_secrets</c>, and
/// remembered in memory. Two instances making one at once: the first insert wins and both use it.
/// </summary>
public sealed class ServiceSecretStore(IDbContextFactory<JobsDbContext> contexts, TimeProvider time)
{
    readonly ConcurrentDictionary<string, byte[]> _known = new();

    public async Task<byte[]> GetAsync(string name, CancellationToken ct)
    {
        if (_known.TryGetValue(name, out var known)) return known;
        await using var db = await contexts.CreateDbContextAsync(ct);
        var stored = await db.ServiceSecrets.AsNoTracking().FirstOrDefaultAsync(s => s.Name == name, ct);
        if (stored is null)
        {
            db.ServiceSecrets.Add(new ServiceSecret { Name = name, Value = Convert.ToBase64String(RandomNumberGenerator.GetBytes(32)), CreatedAt = time.GetUtcNow().UtcDateTime });
            try { await db.SaveChangesAsync(ct); }
            catch (DbUpdateException) { db.ChangeTracker.Clear(); } // another instance made it first: use theirs
            stored = await db.ServiceSecrets.AsNoTracking().FirstAsync(s => s.Name == name, ct);
        }
        return _known[name] = Convert.FromBase64String(stored.Value);
    }
}
