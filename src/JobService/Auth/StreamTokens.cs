using System.Security.Cryptography;
using System.Text;
using Microsoft.Extensions.Options;

namespace JobService.Auth;

/// <summary>
/// Short-lived tokens that open one job's event stream from a browser, which cannot send headers
/// with EventSource: <c>jst_</c> + base64url("job|tenant|expiry|key id|key stamp[|session id]") + "." +
/// base64url(HMAC-SHA256). The signing key is made once and kept in the database, so every
/// instance accepts every instance's tokens. A token grants nothing but GET /jobs/{that id}/events
/// until it expires, and only while the API key that asked for it is valid and not rotated since
/// (the stamp is the start of the key's hash, which a rotation changes; both are empty with auth off),
/// and, when a dashboard session asked for it, while that session is not signed out (it never
/// outlives the session: its expiry is the session's when that comes first).
/// </summary>
public sealed class StreamTokens(ServiceSecretStore secrets, IOptions<Events.EventsOptions> options, TimeProvider time)
{
    const string Prefix = "jst_";
    const string SecretName = "stream-token-key";

    public sealed record Grant(Guid JobId, string TenantId, DateTime ExpiresAt, Guid? KeyId, string KeyStamp, Guid? SessionId)
    {
        /// <summary>Whether this grant came from <paramref name="key"/> as it is now (a rotation since makes it another key).</summary>
        public bool IsFrom(Data.ApiKey key) => key.Id == KeyId && Stamp(key) == KeyStamp;
    }

    static string Stamp(Data.ApiKey key) => key.KeyHash[..16];

    /// <summary>
    /// A token for the job, from <paramref name="key"/> (null with auth off), through the dashboard
    /// session <paramref name="session"/> when one asked for it.
    /// </summary>
    public async Task<(string Token, DateTime ExpiresAt)> IssueAsync(Guid jobId, string tenant, Data.ApiKey? key,
        (Guid Id, DateTime ExpiresAt)? session, CancellationToken ct)
    {
        var expires = time.GetUtcNow().UtcDateTime.AddMinutes(options.Value.StreamTokenMinutes);
        if (session is { } s && s.ExpiresAt < expires) expires = s.ExpiresAt;
        // The session's field only when a session asked: a key's token keeps the form instances of the release before read.
        var fields = $"{jobId}|{tenant}|{expires.Ticks}|{key?.Id}|{(key is null ? "" : Stamp(key))}{(session is { } asker ? $"|{asker.Id:N}" : "")}";
        var body = Base64Url(Encoding.UTF8.GetBytes(fields));
        return ($"{Prefix}{body}.{Base64Url(HMACSHA256.HashData(await KeyAsync(ct), Encoding.ASCII.GetBytes(body)))}", expires);
    }

    /// <summary>The grant if the token is genuine; <paramref name="expired"/> says when it is genuine but too old.</summary>
    public async Task<Grant?> ReadAsync(string token, CancellationToken ct)
    {
        if (!token.StartsWith(Prefix, StringComparison.Ordinal) || token[Prefix.Length..].Split('.') is not [var body, var signature]) return null;
        var expected = HMACSHA256.HashData(await KeyAsync(ct), Encoding.ASCII.GetBytes(body));
        byte[] given;
        try { given = FromBase64Url(signature); } catch (FormatException) { return null; }
        if (!CryptographicOperations.FixedTimeEquals(expected, given)) return null;
        var parts = Encoding.UTF8.GetString(FromBase64Url(body)).Split('|');
        // A token of the three-field form that came before key ids carries no key to check: not valid.
        if (parts is not [var job, var tenant, var ticks, var key, var stamp, .. var rest] || rest.Length > 1
            || !Guid.TryParse(job, out var id) || !long.TryParse(ticks, out var t)) return null;
        Guid? keyId = Guid.TryParse(key, out var k) ? k : null;
        Guid? sessionId = rest is [var session] && Guid.TryParseExact(session, "N", out var s) ? s : null;
        if ((key.Length > 0 && keyId is null) || (rest.Length == 1 && sessionId is null)) return null;
        return new Grant(id, tenant, new DateTime(t, DateTimeKind.Utc), keyId, stamp, sessionId);
    }

    public bool IsExpired(Grant grant) => grant.ExpiresAt <= time.GetUtcNow().UtcDateTime;

    Task<byte[]> KeyAsync(CancellationToken ct) => secrets.GetAsync(SecretName, ct);

    static string Base64Url(byte[] bytes) => Convert.ToBase64String(bytes).TrimEnd('=').Replace('+', '-').Replace('/', '_');

    static byte[] FromBase64Url(string text)
    {
        var s = text.Replace('-', '+').Replace('_', '/');
        return Convert.FromBase64String(s.PadRight(s.Length + (4 - s.Length % 4) % 4, '='));
    }
}
