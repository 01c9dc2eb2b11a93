using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;

namespace JobService.Tests.Infrastructure;

/// <summary>Serves one test page from the service itself, so that the page's EventSource and fetch talk to their own origin.</summary>
public sealed class ServedPage(string path, string html) : IStartupFilter
{
    public Action<IApplicationBuilder> Configure(Action<IApplicationBuilder> next) => app =>
    {
        app.Use(async (http, rest) =>
        {
            if (http.Request.Path == path)
            {
                http.Response.ContentType = "text/html; charset=utf-8";
                await http.Response.WriteAsync(html);
            }
            else await rest(http);
        });
        next(app);
    };
}
