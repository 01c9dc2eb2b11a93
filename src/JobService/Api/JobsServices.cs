using JobService.Data;
using JobService.Handlers;

namespace JobService.Api;

/// <summary>What the /jobs endpoints need, bound as one parameter.</summary>
public sealed record JobsServices(JobsDbContext Db, JobTypeRegistry Registry, TimeProvider Time, JobService.Transitions.JobTransitions Transitions,
    Microsoft.Extensions.Options.IOptions<JobService.Webhooks.WebhooksOptions> Webhooks)
{
    public DateTime Now => Time.GetUtcNow().UtcDateTime;
}
