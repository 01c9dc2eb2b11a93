using JobService.Data;
using JobService.Handlers;

namespace JobService.Api;

/// <summary>What the /jobs endpoints need, bound as one parameter.</summary>
public sealed record JobsServices(JobsDbContext Db, JobTypeRegistry Registry, TimeProvider Time, JobService.Transitions.JobTransitions Transitions,
    Microsoft.Extensions.Options.IOptions<JobService.Webhooks.WebhooksOptions> Webhooks,
    Microsoft.Extensions.Options.IOptions<JobService.Auth.TenantOptions> Tenants, System.Security.Claims.ClaimsPrincipal User)
{
    /// <summary>Who is calling: the tenant whose jobs this request may see and touch.</summary>
    public JobService.Auth.Caller Caller => JobService.Auth.Caller.From(User);

    public DateTime Now => Time.GetUtcNow().UtcDateTime;
}
