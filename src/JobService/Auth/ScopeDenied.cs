using Microsoft.AspNetCore.Authorization;
using Microsoft.AspNetCore.Authorization.Policy;

namespace JobService.Auth;

/// <summary>A key holds this scope (or admin, which holds them all).</summary>
public sealed class ScopeRequirement(string scope) : IAuthorizationRequirement
{
    public string Scope { get; } = scope;
}

public sealed class ScopeHandler : AuthorizationHandler<ScopeRequirement>
{
    protected override Task HandleRequirementAsync(AuthorizationHandlerContext context, ScopeRequirement requirement)
    {
        if (Scope.Grants(context.User.FindAll(Caller.ClaimTypes.Scope).Select(c => c.Value), requirement.Scope)) context.Succeed(requirement);
        return Task.CompletedTask;
    }
}

/// <summary>A key without the scope an endpoint needs gets a 403 ProblemDetails that names the scope.</summary>
public sealed class ScopeDenied : IAuthorizationMiddlewareResultHandler
{
    readonly AuthorizationMiddlewareResultHandler _default = new();

    public async Task HandleAsync(RequestDelegate next, HttpContext http, AuthorizationPolicy policy, PolicyAuthorizationResult result)
    {
        if (!result.Forbidden)
        {
            await _default.HandleAsync(next, http, policy, result);
            return;
        }
        var missing = result.AuthorizationFailure?.FailedRequirements.OfType<ScopeRequirement>().Select(r => r.Scope).FirstOrDefault() ?? "?";
        await Api.ProblemResponse.WriteAsync(http, StatusCodes.Status403Forbidden, "Forbidden", $"This API key lacks the scope '{missing}'.",
            extensions: new Dictionary<string, object?> { ["missing_scope"] = missing });
    }
}
