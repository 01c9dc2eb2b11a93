using System.Security.Cryptography;
using System.Text;
using Microsoft.AspNetCore.Http.HttpResults;

namespace JobService.Api;

/// <summary>
/// The <c>Idempotency-Key</c> header, read once for POST /jobs and POST /jobs/batch: absent, or
/// one value of 1 to 200 printable characters. Sent twice it is refused, naming the header, rather
/// than joined ("a,b") into a key nobody sent.
/// </summary>
public static class Idempotency
{
    public const string Header = "Idempotency-Key";
    public const int MaxLength = 200;

    public static (string? Key, ValidationProblem? Problem) Read(HttpRequest request)
    {
        var values = request.Headers[Header];
        if (values.Count == 0) return (null, null);
        if (values.Count > 1) return (null, Invalid($"Send the {Header} header once; this request has it {values.Count} times."));
        var key = values[0]!;
        if (key.Length is 0 or > MaxLength || key.Any(char.IsControl))
            return (null, Invalid($"The {Header} header must be 1 to {MaxLength} printable characters."));
        return (key, null);
    }

    /// <summary>
    /// A batch's jobs are stored under keys derived from the client's (item i of the batch): a
    /// fixed-length hash of the key, a separator no client key can hold (a control character),
    /// and the index, so a batch's keys never meet a single job's key.
    /// </summary>
    public static string BatchItemKey(string key, int index) =>
        $"{Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(key)))[..40]}\u001f{index}";

    static ValidationProblem Invalid(string message) =>
        TypedResults.ValidationProblem(new Dictionary<string, string[]> { [Header] = [message] }, title: $"The {Header} header is invalid");
}
