using System.Text;
using Microsoft.Net.Http.Headers;

namespace JobService.Api;

/// <summary>
/// A JSON body whose Content-Type names a charset .NET does not know (<c>charset=bogus</c>) is a
/// 415 ProblemDetails before any handler runs: reading it used to throw inside ASP.NET's JSON
/// reader and answer 500.
/// </summary>
public sealed class JsonCharset(RequestDelegate next)
{
    public Task InvokeAsync(HttpContext http)
    {
        if (!MediaTypeHeaderValue.TryParse(http.Request.ContentType, out var type)) return next(http);
        // A charset given empty (charset=) is no more readable than an unknown one.
        var charset = type.Parameters.FirstOrDefault(p => p.Name.Equals("charset", StringComparison.OrdinalIgnoreCase))?.Value.Value;
        if (charset is null || Known(charset)) return next(http);
        return ProblemResponse.WriteAsync(http, StatusCodes.Status415UnsupportedMediaType, "Unsupported media type",
            $"The charset '{charset.Clip(50)}' is not one this service reads; send JSON as UTF-8 (Content-Type: application/json).");
    }

    static bool Known(string charset)
    {
        try { return Encoding.GetEncoding(charset.Trim('"')) is not null; }
        catch (ArgumentException) { return false; }
    }
}
