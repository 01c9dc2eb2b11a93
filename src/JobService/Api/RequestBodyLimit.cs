using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.Options;

namespace JobService.Api;

/// <summary>
/// Refuses bodies over <see cref="ApiOptions.MaxRequestBodyBytes"/> with a 413 ProblemDetails
/// before any handler runs. Kestrel's own limit is set too, but a chunked body is only caught
/// by Kestrel mid-read, where the JSON binder reports it as a broken body; so a body without
/// Content-Length is read here up to the limit first (it is at most that big in memory).
/// </summary>
public sealed class RequestBodyLimit(RequestDelegate next, IOptions<ApiOptions> options)
{
    /// <summary>Not async on its common path (a body with its length, or none): every request passes here.</summary>
    public Task InvokeAsync(HttpContext http)
    {
        var limit = options.Value.MaxRequestBodyBytes;
        if (http.Features.Get<IHttpMaxRequestBodySizeFeature>() is { IsReadOnly: false } feature)
            feature.MaxRequestBodySize = limit + 1L; // never hit first: the checks below answer with a clear 413

        var length = http.Request.ContentLength;
        if (length > limit) return TooLarge(http, limit);
        if (length is null && HasBody(http.Request)) return BufferedThenNextAsync(http, limit);
        return next(http);
    }

    /// <summary>A body without Content-Length (chunked), read whole up to the limit before the handler sees it.</summary>
    async Task BufferedThenNextAsync(HttpContext http, int limit)
    {
        var buffer = new MemoryStream();
        var chunk = new byte[16 * 1024];
        int read;
        while ((read = await ReadAsync(http, chunk)) != 0)
        {
            if (read < 0 || buffer.Length + read > limit)
            {
                await TooLarge(http, limit);
                return;
            }
            buffer.Write(chunk, 0, read);
        }
        buffer.Position = 0;
        http.Request.Body = buffer;
        http.Request.ContentLength = buffer.Length;
        await next(http);
    }

    /// <summary>A read; 0 for the end, -1 past Kestrel's own limit (a chunk that crossed it is refused there, mid-read).</summary>
    static async Task<int> ReadAsync(HttpContext http, byte[] chunk)
    {
        try { return await http.Request.Body.ReadAsync(chunk, http.RequestAborted); }
        catch (BadHttpRequestException e) when (e.StatusCode == StatusCodes.Status413PayloadTooLarge) { return -1; }
    }

    static bool HasBody(HttpRequest request) =>
        HttpMethods.IsPost(request.Method) || HttpMethods.IsPut(request.Method) || HttpMethods.IsPatch(request.Method);

    Task TooLarge(HttpContext http, int limit)
    {
        return ProblemResponse.WriteAsync(http, StatusCodes.Status413PayloadTooLarge, "Request body too large",
            $"The request body is larger than the limit of {limit} bytes (Api:MaxRequestBodyBytes).");
    }
}
