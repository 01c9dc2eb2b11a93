using System.Collections.Concurrent;
using System.Security.Cryptography;
using System.Text;
using JobService.Auth;
using JobService.Data;
using Microsoft.AspNetCore.WebUtilities;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;

namespace JobService.Dashboard;

/// <summary>
/// The dashboard's sign-in, for a browser that cannot keep an API key anywhere safe: the key is
/// sealed (AES-GCM) with its expiry into an HttpOnly, SameSite=Strict cookie, and every request
/// that carries the cookie is authenticated as that key, revocation and expiry included
/// (<see cref="ApiKeyAuthentication"/>). A request that changes something must also carry the
/// antiforgery token: an HMAC of the cookie, which the page reads from GET {path}/session and a
/// page of another site cannot. Both keys derive from one secret kept in the database, so every
/// instance accepts every instance's cookies and tokens. Each session has an id; signing out
/// stores it (<see cref="DashboardSignOut"/>), so a copy of the cookie kept by someone else is
/// refused from then on: at once on this instance, on others within Auth:KeyCacheSeconds, as a
/// revoked key is.
/// </summary>
public sealed class DashboardSession(ServiceSecretStore secrets, IDbContextFactory<JobsDbContext> contexts, IOptions<DashboardOptions> options,
    IOptions<AuthOptions> auth, TimeProvider time)
{
    public const string CookieName = "jobservice_session";
    public const string TokenHeader = "X-Dashboard-Token";
    const string SecretName = "dashboard-session-key";
    const int NonceSize = 12, TagSize = 16, MaxRemembered = 10_000;
    /// <summary>Whether a session was signed out, and until when that answer holds here.</summary>
    readonly ConcurrentDictionary<Guid, (bool SignedOut, DateTime Until)> _signedOut = new();

    /// <summary>A signed-in session: what its cookie holds.</summary>
    public sealed record Session(Guid Id, DateTime ExpiresAt, string ApiKey);

    /// <summary>The cookie's value for a valid API key: a new session.</summary>
    public async Task<string> SealAsync(string apiKey, CancellationToken ct)
    {
        var expires = time.GetUtcNow().UtcDateTime.AddHours(options.Value.SessionHours).Ticks;
        var plain = Encoding.UTF8.GetBytes($"{expires}|{Guid.NewGuid():N}|{apiKey}");
        var key = await KeyAsync("cookie", ct);
        var sealedBytes = new byte[NonceSize + plain.Length + TagSize];
        RandomNumberGenerator.Fill(sealedBytes.AsSpan(0, NonceSize));
        using var aes = new AesGcm(key, TagSize);
        aes.Encrypt(sealedBytes.AsSpan(0, NonceSize), plain, sealedBytes.AsSpan(NonceSize, plain.Length), sealedBytes.AsSpan(NonceSize + plain.Length));
        return WebEncoders.Base64UrlEncode(sealedBytes);
    }

    /// <summary>The API key a cookie holds, or null when it is not genuine, has expired or was signed out.</summary>
    public async Task<string?> OpenAsync(string cookie, CancellationToken ct) => (await OpenSessionAsync(cookie, ct))?.ApiKey;

    /// <summary>The session a cookie holds, or null when it is not genuine, has expired or was signed out.</summary>
    public async Task<Session?> OpenSessionAsync(string cookie, CancellationToken ct) =>
        await UnsealAsync(cookie, ct) is { } session && !await IsSignedOutAsync(session.Id, session.ExpiresAt, ct) ? session : null;

    /// <summary>Ends the cookie's session everywhere, not only in the browser that deletes it; expired sign-outs are forgotten.</summary>
    public async Task SignOutAsync(string cookie, CancellationToken ct)
    {
        if (await UnsealAsync(cookie, ct) is not { } session) return; // not genuine, or over already
        // Not cut short by the browser going away: a sign-out half written would be one this instance alone knew of.
        await using var db = await contexts.CreateDbContextAsync(CancellationToken.None);
        var now = time.GetUtcNow().UtcDateTime;
        await db.DashboardSignOuts.Where(o => o.ExpiresAt <= now).ExecuteDeleteAsync(CancellationToken.None);
        db.DashboardSignOuts.Add(new DashboardSignOut { SessionId = session.Id, ExpiresAt = session.ExpiresAt });
        try { await db.SaveChangesAsync(CancellationToken.None); }
        catch (DbUpdateException)
        {
            // Signed out already (another tab, another instance): that row is as good as this one.
            if (!await SignedOutInDatabaseAsync(session.Id, CancellationToken.None)) throw;
        }
        Remember(session.Id, (true, session.ExpiresAt));
    }

    /// <summary>
    /// A signed-out session stays so: a read begun before the sign-out must not put "signed in"
    /// back; a later answer that it is signed out may only keep it so for longer (a stream token's
    /// check remembers it to the token's expiry, the cookie's to the session's).
    /// </summary>
    void Remember(Guid id, (bool SignedOut, DateTime Until) answer)
    {
        if (_signedOut.Count >= MaxRemembered) _signedOut.Clear();
        _signedOut.AddOrUpdate(id, answer, (_, known) => !known.SignedOut ? answer
            : answer.SignedOut && answer.Until > known.Until ? answer : known);
    }

    /// <summary>
    /// Whether session <paramref name="id"/> was signed out: known here at once, learnt from the
    /// database within Auth:KeyCacheSeconds; a yes is remembered until <paramref name="usedUntil"/>,
    /// the last moment the session (or a stream token it asked for) could be used.
    /// </summary>
    public async Task<bool> IsSignedOutAsync(Guid id, DateTime usedUntil, CancellationToken ct)
    {
        var now = time.GetUtcNow().UtcDateTime;
        if (_signedOut.TryGetValue(id, out var known) && known.Until > now) return known.SignedOut;
        var signedOut = await SignedOutInDatabaseAsync(id, ct);
        Remember(id, (signedOut, signedOut ? usedUntil : now.AddSeconds(auth.Value.KeyCacheSeconds)));
        return signedOut;
    }

    async Task<bool> SignedOutInDatabaseAsync(Guid id, CancellationToken ct)
    {
        await using var db = await contexts.CreateDbContextAsync(ct);
        return await db.DashboardSignOuts.AnyAsync(o => o.SessionId == id, ct);
    }

    /// <summary>The session a cookie holds, or null when it is not genuine or has expired.</summary>
    async Task<Session?> UnsealAsync(string cookie, CancellationToken ct)
    {
        byte[] sealedBytes;
        try { sealedBytes = WebEncoders.Base64UrlDecode(cookie); }
        catch (FormatException) { return null; }
        if (sealedBytes.Length <= NonceSize + TagSize) return null;
        var plain = new byte[sealedBytes.Length - NonceSize - TagSize];
        try
        {
            using var aes = new AesGcm(await KeyAsync("cookie", ct), TagSize);
            aes.Decrypt(sealedBytes.AsSpan(0, NonceSize), sealedBytes.AsSpan(NonceSize, plain.Length), sealedBytes.AsSpan(NonceSize + plain.Length), plain);
        }
        catch (AuthenticationTagMismatchException) { return null; }
        // A cookie of the form before sessions had ids ("expires|key") is not one: sign in again.
        if (Encoding.UTF8.GetString(plain).Split('|', 3) is not [var ticks, var id, var key]
            || !long.TryParse(ticks, out var expires) || !Guid.TryParseExact(id, "N", out var sessionId)) return null;
        var expiresAt = new DateTime(expires, DateTimeKind.Utc);
        return expiresAt > time.GetUtcNow().UtcDateTime ? new Session(sessionId, expiresAt, key) : null;
    }

    /// <summary>The antiforgery token that goes with a cookie.</summary>
    public async Task<string> TokenAsync(string cookie, CancellationToken ct) =>
        WebEncoders.Base64UrlEncode(HMACSHA256.HashData(await KeyAsync("antiforgery", ct), Encoding.ASCII.GetBytes(cookie)));

    public async Task<bool> IsTokenValidAsync(string cookie, string? token, CancellationToken ct) =>
        token is not null && CryptographicOperations.FixedTimeEquals(Encoding.ASCII.GetBytes(await TokenAsync(cookie, ct)), Encoding.ASCII.GetBytes(token));

    async Task<byte[]> KeyAsync(string purpose, CancellationToken ct) =>
        HKDF.DeriveKey(HashAlgorithmName.SHA256, await secrets.GetAsync(SecretName, ct), 32, info: Encoding.ASCII.GetBytes(purpose));
}
