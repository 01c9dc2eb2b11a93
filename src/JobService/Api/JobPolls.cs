using JobService.Data;
using JobService.Transitions;

namespace JobService.Api;

/// <summary>
/// The read every poll of <c>GET /jobs/{id}</c> makes (<see cref="JobById"/>), run together with the
/// polls that come while one runs (<see cref="RunTogether{TItem, TResult}"/>): under load, one
/// statement for many ids instead of a round trip each. The tenant is checked on the row read, as
/// <see cref="JobById.FindAsync"/> checks it in SQL: another tenant's job is not found.
/// </summary>
public sealed class JobPolls(JobsConnections connections, IJobDriver driver)
{
    /// <summary>Ids a statement lists at most.</summary>
    const int MaxIds = 1000;

    readonly RunTogether<Guid, Job?> _reads = new(MaxIds);
    Func<IReadOnlyList<Guid>, Task<IReadOnlyList<Job?>>> Read => field ??= ReadAsync; // made once: every poll passes it
    readonly string _listed = $"SELECT {JobById.Columns} FROM jobs WHERE {driver.IdIn("ids")}";

    /// <summary>The job if it belongs to <paramref name="tenant"/> (null: any tenant, for admin keys).</summary>
    public async Task<Job?> FindAsync(Guid id, string? tenant) =>
        await _reads.RunAsync(id, Read, eachAlone: _ => false) is { } job && (tenant is null || job.TenantId == tenant) ? job : null;

    /// <summary>Polls waiting for the read before them (for tests).</summary>
    internal int Queued => _reads.Queued;

    /// <summary>Polls in the group whose read runs now (for tests).</summary>
    internal int Running => _reads.Running;

    /// <summary>The jobs of <paramref name="ids"/>, in their order (null: no such job).</summary>
    internal async Task<IReadOnlyList<Job?>> ReadAsync(IReadOnlyList<Guid> ids)
    {
        if (ids.Count == 1) return [await JobById.FindAsync(connections, driver, ids[0], tenant: null, CancellationToken.None)];
        var rows = await connections.QueryAsync(_listed, JobById.Read, CancellationToken.None, driver, ("ids", driver.Ids(ids)));
        var byId = rows.ToDictionary(j => j.Id);
        return ids.Select(byId.GetValueOrDefault).ToList();
    }
}
