using System.Collections.Concurrent;
using System.Reflection;
using Microsoft.AspNetCore.Http.Metadata;

namespace JobService.Api;

/// <summary>
/// A query parameter the endpoint does not take is a 400 naming it: a misspelt filter
/// (<c>GET /jobs?stauts=failed</c>) would otherwise list every job, and <c>POST /jobs?tenant_id=acme</c>
/// a 201 in the key's own tenant. What an endpoint takes is read once from its handler: its
/// <c>[FromQuery]</c> parameters (those of its <c>[AsParameters]</c> types too), plus what its
/// metadata adds (<see cref="TakesQueryAttribute"/>), plus <c>_</c> everywhere, the cache-busting
/// parameter frontends add to a poll. Endpoints that are not the described API (pages, the redirect
/// to Swagger) are left alone, and a request without a query costs one test.
/// </summary>
public sealed class UnknownQuery(RequestDelegate next)
{
    const string CacheBuster = "_";
    const int MaxNamed = 5;

    readonly ConcurrentDictionary<Endpoint, Accepted?> _accepted = new();

    public Task InvokeAsync(HttpContext http)
    {
        if (!http.Request.QueryString.HasValue || http.GetEndpoint() is not { } endpoint) return next(http);
        if (_accepted.GetOrAdd(endpoint, Accepted.Of) is not { } accepted) return next(http);
        var unknown = http.Request.Query.Keys.Where(name => !accepted.Takes(name)).ToList();
        if (unknown.Count == 0) return next(http);
        // Named a few at a time, clipped: the answer stays small whatever the query holds.
        var errors = unknown.Take(MaxNamed).Select(name => name.Clip(60)).Distinct()
            .ToDictionary(name => name, name => new[] { $"'{name}' is not a query parameter of this endpoint." });
        return Results.ValidationProblem(errors, title: "Unknown query parameter",
            detail: $"This endpoint takes {accepted.Describe()} in its query ({unknown.Count} other name{(unknown.Count == 1 ? "" : "s")} given).").ExecuteAsync(http);
    }

    sealed record Accepted(IReadOnlySet<string> Names, IReadOnlyList<string> Prefixes)
    {
        public bool Takes(string name) => name == CacheBuster || Names.Contains(name) || Prefixes.Any(p => name.StartsWith(p, StringComparison.Ordinal) && name.Length > p.Length);

        public string Describe() => Names.Count + Prefixes.Count == 0
            ? "none"
            : string.Join(", ", Names.Order(StringComparer.Ordinal).Concat(Prefixes.Select(p => p + "…")));

        public static Accepted? Of(Endpoint endpoint)
        {
            if (endpoint.Metadata.GetMetadata<MethodInfo>() is not { } handler || endpoint.Metadata.GetMetadata<IExcludeFromDescriptionMetadata>() is { ExcludeFromDescription: true })
                return null;
            // A parameter that binds itself (BindAsync) may read any query: such an endpoint is not checked.
            if (handler.GetParameters().Any(p => HasStatic(p.ParameterType, "BindAsync"))) return null;
            var routeValues = (endpoint as RouteEndpoint)?.RoutePattern.Parameters.Select(p => p.Name).ToHashSet(StringComparer.OrdinalIgnoreCase) ?? [];
            var names = new HashSet<string>(StringComparer.OrdinalIgnoreCase); // as the query binds them
            foreach (var parameter in handler.GetParameters()) Collect(parameter.ParameterType, [parameter], parameter.Name, routeValues, names);
            var also = endpoint.Metadata.GetOrderedMetadata<TakesQueryAttribute>().SelectMany(t => t.Names).ToList();
            names.UnionWith(also.Where(n => !n.EndsWith('.')));
            return new Accepted(names, also.Where(n => n.EndsWith('.')).ToList());
        }

        static void Collect(Type type, ICustomAttributeProvider[] sources, string? name, HashSet<string> routeValues, HashSet<string> names)
        {
            var attributes = sources.SelectMany(a => a.GetCustomAttributes(true)).ToList();
            if (attributes.OfType<AsParametersAttribute>().Any())
            {
                // Bound as minimal APIs bind it: through its constructor's parameters when it has some (with
                // what a record's [property: …] puts on the property of the same name), else its settable properties.
                var properties = type.GetProperties(BindingFlags.Public | BindingFlags.Instance);
                if (type.GetConstructors().MaxBy(c => c.GetParameters().Length) is { } constructor && constructor.GetParameters().Length > 0)
                    foreach (var parameter in constructor.GetParameters())
                        Collect(parameter.ParameterType, [parameter, .. properties.Where(p => p.Name == parameter.Name)], parameter.Name, routeValues, names);
                else
                    foreach (var property in properties.Where(p => p.CanWrite)) Collect(property.PropertyType, [property], property.Name, routeValues, names);
                return;
            }
            if (attributes.OfType<IFromQueryMetadata>().FirstOrDefault() is { } query) names.Add(query.Name ?? name!);
            // Minimal APIs read an unattributed value that parses from text and is not in the route from the query.
            else if (name is not null && IsParsed(type) && !routeValues.Contains(name) && !attributes.Any(IsBoundElsewhere)) names.Add(name);
        }

        static bool IsBoundElsewhere(object attribute) =>
            attribute is IFromRouteMetadata or IFromHeaderMetadata or IFromBodyMetadata or IFromServiceMetadata or IFromFormMetadata;

        /// <summary>A string, or a type with a static TryParse (arrays and nullables of them too): what ASP.NET binds from text.</summary>
        static bool IsParsed(Type type)
        {
            type = Nullable.GetUnderlyingType(type) ?? (type.IsArray ? type.GetElementType()! : type);
            return type == typeof(string) || type.IsEnum || HasStatic(type, "TryParse");
        }

        static bool HasStatic(Type type, string method) =>
            (Nullable.GetUnderlyingType(type) ?? type).GetMethods(BindingFlags.Public | BindingFlags.Static).Any(m => m.Name == method);
    }
}

/// <summary>
/// Query parameters an endpoint reads itself, beyond its handler's: a name, or a prefix ending in
/// "." for a family of them (<c>payload.</c> for the payload filters).
/// </summary>
[AttributeUsage(AttributeTargets.Method | AttributeTargets.Class, AllowMultiple = true)]
public sealed class TakesQueryAttribute(params string[] names) : Attribute
{
    public IReadOnlyList<string> Names { get; } = names;
}
