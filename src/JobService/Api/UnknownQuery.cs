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

    readonly ConcurrentDictionary<Endpoint, Accepted?> _accepted = new();

    public Task InvokeAsync(HttpContext http)
    {
        if (!http.Request.QueryString.HasValue || http.GetEndpoint() is not { } endpoint) return next(http);
        if (_accepted.GetOrAdd(endpoint, Accepted.Of) is not { } accepted) return next(http);
        var unknown = http.Request.Query.Keys.Where(name => !accepted.Takes(name)).ToList();
        if (unknown.Count == 0) return next(http);
        var takes = accepted.Describe();
        var errors = unknown.ToDictionary(name => name, name => new[] { $"'{name}' is not a query parameter of this endpoint, which takes {takes}." });
        return Results.ValidationProblem(errors, title: "Unknown query parameter").ExecuteAsync(http);
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
            var routeValues = (endpoint as RouteEndpoint)?.RoutePattern.Parameters.Select(p => p.Name).ToHashSet(StringComparer.OrdinalIgnoreCase) ?? [];
            var names = new HashSet<string>(StringComparer.OrdinalIgnoreCase); // as the query binds them
            foreach (var parameter in handler.GetParameters()) Collect(parameter.ParameterType, parameter, parameter.Name, routeValues, names);
            var also = endpoint.Metadata.GetOrderedMetadata<TakesQueryAttribute>().SelectMany(t => t.Names).ToList();
            names.UnionWith(also.Where(n => !n.EndsWith('.')));
            return new Accepted(names, also.Where(n => n.EndsWith('.')).ToList());
        }

        static void Collect(Type type, ICustomAttributeProvider source, string? name, HashSet<string> routeValues, HashSet<string> names)
        {
            if (source.IsDefined(typeof(AsParametersAttribute), false))
            {
                // Bound as minimal APIs bind it: through its constructor's parameters when it has some, else its settable properties.
                if (type.GetConstructors().MaxBy(c => c.GetParameters().Length) is { } constructor && constructor.GetParameters().Length > 0)
                    foreach (var parameter in constructor.GetParameters()) Collect(parameter.ParameterType, parameter, parameter.Name, routeValues, names);
                else
                    foreach (var property in type.GetProperties(BindingFlags.Public | BindingFlags.Instance).Where(p => p.CanWrite))
                        Collect(property.PropertyType, property, property.Name, routeValues, names);
                return;
            }
            if (source.GetCustomAttributes(true).OfType<IFromQueryMetadata>().FirstOrDefault() is { } query) names.Add(query.Name ?? name!);
            // Minimal APIs read an unattributed simple value that is not in the route from the query.
            else if (name is not null && IsSimple(type) && !routeValues.Contains(name) && !IsBoundElsewhere(source)) names.Add(name);
        }

        static bool IsBoundElsewhere(ICustomAttributeProvider source) => source.GetCustomAttributes(true).Any(a =>
            a is IFromRouteMetadata or IFromHeaderMetadata or IFromBodyMetadata or IFromServiceMetadata or IFromFormMetadata);

        static bool IsSimple(Type type)
        {
            type = Nullable.GetUnderlyingType(type) ?? (type.IsArray ? type.GetElementType()! : type);
            return type.IsPrimitive || type.IsEnum || type == typeof(string) || type == typeof(decimal) || type == typeof(Guid)
                || type == typeof(DateTime) || type == typeof(DateTimeOffset) || type == typeof(TimeSpan);
        }
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
