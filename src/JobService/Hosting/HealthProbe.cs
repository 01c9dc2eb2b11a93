namespace JobService.Hosting;

/// <summary><c>JobService healthcheck [url]</c>: exit 0 when the readiness endpoint answers 200.</summary>
public static class HealthProbe
{
    /// <summary>
    /// Without a URL: /health/ready on this host, at the first http address of ASPNETCORE_URLS (its
    /// wildcard hosts as 127.0.0.1), else the first of ASPNETCORE_HTTP_PORTS (the image's 8080), so
    /// that a container given another port stays healthy.
    /// </summary>
    public static string DefaultUrl(string? urls, string? httpPorts)
    {
        foreach (var url in urls?.Split(';', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries) ?? [])
        {
            var local = url.Replace("://+", "://127.0.0.1").Replace("://*", "://127.0.0.1").Replace("://0.0.0.0", "://127.0.0.1").Replace("://[::]", "://127.0.0.1");
            if (Uri.TryCreate(local, UriKind.Absolute, out var uri) && uri.Scheme == "http") return $"http://{uri.Authority}/health/ready";
        }
        var first = httpPorts?.Split([';', ','], StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries).FirstOrDefault();
        return $"http://127.0.0.1:{(int.TryParse(first, out var port) && port is > 0 and < 65536 ? port : 8080)}/health/ready";
    }

    public static async Task<int> RunAsync(string url)
    {
        if (!Uri.TryCreate(url, UriKind.Absolute, out var uri) || uri.Scheme is not ("http" or "https"))
        {
            Console.Error.WriteLine($"healthcheck takes an http(s) URL, not '{url}'.");
            return 2;
        }
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(5) };
        try
        {
            using var response = await http.GetAsync(url);
            Console.WriteLine($"{url}: {(int)response.StatusCode}");
            return response.IsSuccessStatusCode ? 0 : 1;
        }
        catch (Exception e) when (e is HttpRequestException or TaskCanceledException)
        {
            Console.WriteLine($"{url}: {e.Message}");
            return 1;
        }
    }
}
