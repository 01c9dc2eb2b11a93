using System.Text;
using Microsoft.Net.Http.Headers;

namespace JobService.Api;

/// <summary>
/// A JSON body whose Content-Type names a charset .NET does not know or will not read
/// (<c>charset=bogus</c>, <c>charset=</c>, <c>charset=utf-7</c>) is a 415 ProblemDetails before any
/// handler runs: reading it used to throw inside ASP.NET's JSON reader and answer 500.
/// </summary>
public sealed class JsonCharset(RequestDelegate next)
{
    public Task InvokeAsync(HttpContext http)
    {
        if (!MediaTypeHeaderValue.TryParse(http.Request.ContentType, out var type)) return next(http);
        // A charset given empty (charset=) is no more readable than an unknown one.
        var charset = type.Parameters.FirstOrDefault(p => p.Name.Equals("charset", StringComparison.OrdinalIgnoreCase))?.Value.Value;
        if (charset is null) return next(http);
        var name = HeaderUtilities.RemoveQuotes(charset).Value!;
        if (Known(name))
        {
            // HTTP allows the value quoted (charset="utf-8"); ASP.NET's JSON reader does not read it so.
            if (name.Length != charset.Length) http.Request.ContentType = $"{type.MediaType}; charset={name}";
            return next(http);
        }
        return ProblemResponse.WriteAsync(http, StatusCodes.Status415UnsupportedMediaType, "Unsupported media type",
            $"The charset '{charset.Clip(50)}' is not one this service reads; send JSON as UTF-8 (Content-Type: application/json).");
    }

    static bool Known(string charset)
    {
        try { return Encoding.GetEncoding(charset) is not null; }
        catch (Exception e) when (e is ArgumentException or NotSupportedException) { return false; } // NotSupported: UTF-7, which .NET refuses
    }
}
