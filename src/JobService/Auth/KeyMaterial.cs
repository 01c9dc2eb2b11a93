using System.Security.Cryptography;
using System.Text;

namespace JobService.Auth;

/// <summary>
/// API keys are <c>jsk_</c> and 32 base62 characters (about 190 random bits): the fixed prefix
/// lets secret scanners find a leaked key. Stored as SHA-256 only; found by their first 12
/// characters; compared in constant time.
/// </summary>
public static class KeyMaterial
{
    public const string KeyPrefix = "jsk_";
    public const int RandomLength = 32;
    public const int LookupLength = 12;
    const string Base62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

    public static string NewKey() => KeyPrefix + RandomNumberGenerator.GetString(Base62, RandomLength);

    public static bool LooksLikeKey(string key) =>
        key.Length == KeyPrefix.Length + RandomLength && key.StartsWith(KeyPrefix, StringComparison.Ordinal) && key[KeyPrefix.Length..].All(Base62.Contains);

    public static string Lookup(string key) => key[..LookupLength];

    public static string Hash(string key) => Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(key)));

    public static bool Matches(string key, string storedHash) =>
        CryptographicOperations.FixedTimeEquals(Encoding.ASCII.GetBytes(Hash(key)), Encoding.ASCII.GetBytes(storedHash));
}
