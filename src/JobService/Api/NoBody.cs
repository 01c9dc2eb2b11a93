using System.Text;

namespace JobService.Api;

/// <summary>
/// An action that takes no body (cancel, retry, resume, a rotation, a redelivery) refuses one
/// that says something: <c>{"max_attempts": 7}</c> on a retry would otherwise be a 200 that
/// changed nothing the client asked for. An empty body, <c>{}</c> and <c>null</c> say nothing
/// and are let through (HTTP clients send them by habit).
/// </summary>
public static class NoBody
{
    const int Enough = 64; // more than any body that says nothing, read to tell

    public static TBuilder TakesNoBody<TBuilder>(this TBuilder route) where TBuilder : IEndpointConventionBuilder =>
        route.ProducesProblems(400).AddEndpointFilter(async (context, next) =>
        {
            var request = context.HttpContext.Request;
            if (context.HttpContext.Features.Get<Microsoft.AspNetCore.Http.Features.IHttpRequestBodyDetectionFeature>() is { CanHaveBody: false })
                return await next(context);
            var buffer = new byte[Enough];
            var read = 0;
            while (read < Enough && await request.Body.ReadAsync(buffer.AsMemory(read), context.HttpContext.RequestAborted) is var n and > 0) read += n;
            var text = string.Concat(Encoding.UTF8.GetString(buffer, 0, read).Where(c => !char.IsWhiteSpace(c)));
            if (read < Enough && text is "" or "{}" or "null") return await next(context);
            return TypedResults.Problem(title: "This action takes no body",
                detail: "This action takes no request body: send none (or {}). Its fields would be ignored; see the API's documentation for where they go.",
                statusCode: StatusCodes.Status400BadRequest);
        });
}
