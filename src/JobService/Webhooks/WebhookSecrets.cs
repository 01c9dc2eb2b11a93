using System.Security.Cryptography;
using System.Text;
using JobService.Data;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;

namespace JobService.Webhooks;

/// <summary>
/// Each tenant's signing secret, Standard Webhooks style: <c>whsec_</c> + base64 of 32 random
/// bytes, made on first need. A rotation keeps the old one signing beside the new for
/// Webhooks:RotationOverlapHours, so a receiver can switch over without failing a delivery.
/// </summary>
public sealed class WebhookSecrets(IDbContextFactory<JobsDbContext> contexts, IOptions<WebhooksOptions> options, TimeProvider time)
{
    public const string Prefix = "whsec_";

    /// <summary>What signs a tenant's deliveries now: its secret, and the previous one during an overlap.</summary>
    public async Task<IReadOnlyList<string>> SigningAsync(string tenant, CancellationToken ct)
    {
        var row = await CurrentAsync(tenant, ct);
        return row.PreviousSecret is not null && row.PreviousUntil > time.GetUtcNow().UtcDateTime ? [row.Secret, row.PreviousSecret] : [row.Secret];
    }

    /// <summary>The tenant's secret row, if one was made (by its first signed delivery or a rotation).</summary>
    public async Task<WebhookSecret?> FindAsync(string tenant, CancellationToken ct)
    {
        await using var db = await contexts.CreateDbContextAsync(ct);
        return await db.WebhookSecrets.AsNoTracking().FirstOrDefaultAsync(s => s.TenantId == tenant, ct);
    }

    /// <summary>The tenant's secret row, made now if it has none (two instances making one at once: the first wins).</summary>
    public async Task<WebhookSecret> CurrentAsync(string tenant, CancellationToken ct)
    {
        if (await FindAsync(tenant, ct) is { } row) return row;
        await using var db = await contexts.CreateDbContextAsync(ct);
        db.WebhookSecrets.Add(new WebhookSecret { TenantId = tenant, Secret = NewSecret(), CreatedAt = time.GetUtcNow().UtcDateTime });
        try { await db.SaveChangesAsync(ct); }
        catch (DbUpdateException) { db.ChangeTracker.Clear(); }
        return await db.WebhookSecrets.AsNoTracking().SingleAsync(s => s.TenantId == tenant, ct);
    }

    /// <summary>
    /// A new secret (shown once, by the caller); the old one keeps signing until the overlap ends.
    /// While an earlier rotation's overlap runs, only <paramref name="dropPrevious"/> rotates: the
    /// secret before the current one would stop signing at once, before the end it was given
    /// (<see cref="RotationOverlapException"/> otherwise).
    /// </summary>
    public async Task<WebhookSecret> RotateAsync(string tenant, bool dropPrevious, CancellationToken ct)
    {
        var current = await FindAsync(tenant, ct);
        var now = time.GetUtcNow().UtcDateTime;
        if (current is { PreviousSecret: not null, PreviousUntil: { } until } && until > now && !dropPrevious)
            throw new RotationOverlapException(until);
        await using var db = await contexts.CreateDbContextAsync(ct);
        var secret = NewSecret();
        if (current is null)
        {
            // The tenant's first: nothing to overlap with (a secret made only to be replaced would sign beside it, unknown to anyone).
            var first = new WebhookSecret { TenantId = tenant, Secret = secret, CreatedAt = now };
            db.WebhookSecrets.Add(first);
            try { await db.SaveChangesAsync(ct); }
            catch (DbUpdateException e) { throw new DbUpdateConcurrencyException("The webhook secret was made by another request at the same moment.", e); }
            return first;
        }
        var overlap = now.AddHours(options.Value.RotationOverlapHours);
        // Conditional on the secret it replaces: of two rotations at once, one wins and the other is told to try again.
        var changed = await db.WebhookSecrets.Where(s => s.TenantId == tenant && s.Secret == current.Secret).ExecuteUpdateAsync(u => u
            .SetProperty(s => s.PreviousSecret, current.Secret).SetProperty(s => s.PreviousUntil, overlap)
            .SetProperty(s => s.Secret, secret).SetProperty(s => s.CreatedAt, now), ct);
        if (changed == 0) throw new DbUpdateConcurrencyException("The webhook secret was rotated by another request at the same moment.");
        return new WebhookSecret { TenantId = tenant, Secret = secret, CreatedAt = now, PreviousSecret = current.Secret, PreviousUntil = overlap };
    }

    /// <summary>
    /// The webhook-signature header: <c>v1,</c> + base64 HMAC-SHA256 of "{id}.{timestamp}.{body}" per
    /// secret, space-separated. With two secrets (a rotation) the first is repeated at the end:
    /// the StandardWebhooks .NET library (1.1.2) stops its loop before the last signature of a
    /// list, so without the repeat a receiver still on the old secret would refuse every delivery.
    /// The spec allows any number of signatures; every other verifier just finds one more match.
    /// </summary>
    public static string Signature(IReadOnlyList<string> secrets, string id, long timestamp, byte[] body)
    {
        var signed = Encoding.UTF8.GetBytes($"{id}.{timestamp}.").Concat(body).ToArray();
        var signatures = secrets.Select(s => "v1," + Convert.ToBase64String(HMACSHA256.HashData(Convert.FromBase64String(s[Prefix.Length..]), signed))).ToList();
        if (signatures.Count > 1) signatures.Add(signatures[0]);
        return string.Join(' ', signatures);
    }

    /// <summary>What a secret is shown as after it was made: enough to tell which one is in use.</summary>
    public static string Shown(string secret) => secret[..(Prefix.Length + 6)] + "…";

    static string NewSecret() => Prefix + Convert.ToBase64String(RandomNumberGenerator.GetBytes(32));
}

/// <summary>A rotation asked for while the previous secret still signs, as an earlier rotation promised until <see cref="Until"/>.</summary>
public sealed class RotationOverlapException(DateTime until) : Exception($"The previous secret signs beside the current one until {until:O}.")
{
    public DateTime Until => until;
}
