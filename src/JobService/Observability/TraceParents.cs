using JobService.Data;
using JobService.Transitions;

namespace JobService.Observability;

/// <summary>
/// The stored traceparent of claimed jobs, for the links of their process spans. The claim returns
/// only the columns its events need, so this is one more read per claim, made only while something
/// listens to the JobService spans (tracing on); without it a job simply runs unlinked.
/// </summary>
public sealed class TraceParents(JobsConnections connections, IJobDriver driver, ILogger<TraceParents> log)
{
    static readonly IReadOnlyDictionary<Guid, string> None = new Dictionary<Guid, string>();

    public async Task<IReadOnlyDictionary<Guid, string>> ForAsync(IReadOnlyList<ClaimedJob> jobs)
    {
        if (jobs.Count == 0 || !JobTracing.Source.HasListeners()) return None;
        try
        {
            var rows = await connections.QueryAsync($"SELECT id, trace_parent FROM jobs WHERE {driver.IdIn("ids")} AND trace_parent IS NOT NULL",
                r => (Id: r.GetGuid(0), TraceParent: r.GetString(1)), CancellationToken.None, driver, ("ids", driver.Ids(jobs.Select(j => j.Id))));
            return rows.ToDictionary(r => r.Id, r => r.TraceParent);
        }
        catch (Exception e)
        {
            // Claimed jobs must run whatever happens here: they run unlinked.
            log.LogWarning("Reading the trace context of {Count} claimed job(s) failed: {Error}", jobs.Count, DatabaseErrors.OneLine(e));
            return None;
        }
    }
}
