using JobService.Data;
using JobService.Transitions;
using Microsoft.EntityFrameworkCore;

namespace JobService.Observability;

/// <summary>
/// The stored traceparent of claimed jobs, for the links of their process spans. The claim returns
/// only the columns its events need, so this is one more read per claim, made only while something
/// listens to the JobService spans (tracing on); without it a job simply runs unlinked.
/// </summary>
public sealed class TraceParents(IDbContextFactory<JobsDbContext> contexts, ILogger<TraceParents> log)
{
    static readonly IReadOnlyDictionary<Guid, string> None = new Dictionary<Guid, string>();

    public async Task<IReadOnlyDictionary<Guid, string>> ForAsync(IReadOnlyList<ClaimedJob> jobs)
    {
        if (jobs.Count == 0 || !JobTracing.Source.HasListeners()) return None;
        try
        {
            var ids = jobs.Select(j => j.Id).ToList();
            await using var db = await contexts.CreateDbContextAsync();
            return await db.Jobs.AsNoTracking().Where(j => ids.Contains(j.Id) && j.TraceParent != null)
                .ToDictionaryAsync(j => j.Id, j => j.TraceParent!);
        }
        catch (Exception e)
        {
            // Claimed jobs must run whatever happens here: they run unlinked.
            log.LogWarning("Reading the trace context of {Count} claimed job(s) failed: {Error}", jobs.Count, DatabaseErrors.OneLine(e));
            return None;
        }
    }
}
