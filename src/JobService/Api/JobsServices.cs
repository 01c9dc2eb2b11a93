using JobService.Data;
using JobService.Handlers;

namespace JobService.Api;

/// <summary>What the /jobs endpoints need, bound as one parameter.</summary>
public sealed record JobsServices(JobsDbContext Db, JobsConnections Connections, JobTypeRegistry Registry, TimeProvider Time, JobService.Transitions.JobTransitions Transitions,
    Microsoft.Extensions.Options.IOptions<JobService.Webhooks.WebhooksOptions> Webhooks,
    Microsoft.Extensions.Options.IOptions<JobService.Auth.TenantOptions> Tenants, System.Security.Claims.ClaimsPrincipal User)
{
    /// <summary>Who is calling: the tenant whose jobs this request may see and touch.</summary>
    public JobService.Auth.Caller Caller => JobService.Auth.Caller.From(User);

    public DateTime Now => Time.GetUtcNow().UtcDateTime;

    /// <summary>The job if it is the caller's tenant's (<see cref="JobById"/>): another tenant's job does not exist.</summary>
    public Task<Job?> FindJobAsync(Guid id, CancellationToken ct) => JobById.FindAsync(Connections, Transitions.Driver, id, Caller.JobTenant, ct);

    /// <summary>
    /// The active-job quota this submit counts against (0: none). A key's tenant has
    /// Tenants:MaxActiveJobs; with auth off there is one implicit tenant and no one to keep apart
    /// from it, so its backlog is bounded by nothing but the database (docs/security.md).
    /// </summary>
    public int MaxActiveJobs => Caller.KeyId is null ? 0 : Tenants.Value.MaxActiveJobs;
}
