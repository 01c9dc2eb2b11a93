using System.Security.Cryptography;
using System.Text;
using JobService.Auth;
using Microsoft.AspNetCore.WebUtilities;
using Microsoft.Extensions.Options;

namespace JobService.Dashboard;

/// <summary>
/// The dashboard's sign-in, for a browser that cannot keep an API key anywhere safe: the key is
/// sealed (AES-GCM) with its expiry into an HttpOnly, SameSite=Strict cookie, and every request
/// that carries the cookie is authenticated as that key, revocation and expiry included
/// (<see cref="ApiKeyAuthentication"/>). A request that changes something must also carry the
/// antiforgery token: an HMAC of the cookie, which the page reads from GET {path}/session and a
/// page of another site cannot. Both keys derive from one secret kept in the database, so every
/// instance accepts every instance's cookies and tokens.
/// </summary>
public sealed class DashboardSession(ServiceSecretStore secrets, IOptions<DashboardOptions> options, TimeProvider time)
{
    public const string CookieName = "jobservice_session";
    public const string TokenHeader = "X-Dashboard-Token";
    const string SecretName = "dashboard-session-key";
    const int NonceSize = 12, TagSize = 16;

    /// <summary>The cookie's value for a valid API key.</summary>
    public async Task<string> SealAsync(string apiKey, CancellationToken ct)
    {
        var expires = time.GetUtcNow().UtcDateTime.AddHours(options.Value.SessionHours).Ticks;
        var plain = Encoding.UTF8.GetBytes($"{expires}|{apiKey}");
        var key = await KeyAsync("cookie", ct);
        var sealedBytes = new byte[NonceSize + plain.Length + TagSize];
        RandomNumberGenerator.Fill(sealedBytes.AsSpan(0, NonceSize));
        using var aes = new AesGcm(key, TagSize);
        aes.Encrypt(sealedBytes.AsSpan(0, NonceSize), plain, sealedBytes.AsSpan(NonceSize, plain.Length), sealedBytes.AsSpan(NonceSize + plain.Length));
        return WebEncoders.Base64UrlEncode(sealedBytes);
    }

    /// <summary>The API key a cookie holds, or null when it is not genuine or has expired.</summary>
    public async Task<string?> OpenAsync(string cookie, CancellationToken ct)
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
        var text = Encoding.UTF8.GetString(plain);
        var bar = text.IndexOf('|');
        if (bar < 0 || !long.TryParse(text[..bar], out var expires) || expires <= time.GetUtcNow().UtcDateTime.Ticks) return null;
        return text[(bar + 1)..];
    }

    /// <summary>The antiforgery token that goes with a cookie.</summary>
    public async Task<string> TokenAsync(string cookie, CancellationToken ct) =>
        WebEncoders.Base64UrlEncode(HMACSHA256.HashData(await KeyAsync("antiforgery", ct), Encoding.ASCII.GetBytes(cookie)));

    public async Task<bool> IsTokenValidAsync(string cookie, string? token, CancellationToken ct) =>
        token is not null && CryptographicOperations.FixedTimeEquals(Encoding.ASCII.GetBytes(await TokenAsync(cookie, ct)), Encoding.ASCII.GetBytes(token));

    async Task<byte[]> KeyAsync(string purpose, CancellationToken ct) =>
        HKDF.DeriveKey(HashAlgorithmName.SHA256, await secrets.GetAsync(SecretName, ct), 32, info: Encoding.ASCII.GetBytes(purpose));
}
