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

    /// <summary>The active-job quota this submit or retry counts against (0: none).</summary>
    public int MaxActiveJobs => Tenants.Value.QuotaFor(Caller);
}
