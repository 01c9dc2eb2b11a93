namespace JobService.Transitions;

/// <summary>
/// The claim's SQL around each driver's candidate groups. A tenant with 10,000 pending jobs must
/// not starve one with a single job, so tenants share the workers: each tenant with pending work
/// offers its next jobs (priority, then run_at, then id), and a candidate's <c>share</c> is what
/// its tenant's running count would be with it (running + its place in the tenant's line). The
/// claim takes the lowest shares first, so a tenant with nothing running goes before one with
/// ten, whatever their queues; priority orders a tenant's own jobs and breaks ties between
/// tenants. With one tenant this is the plain priority order. Per-type quotas cap their group;
/// Tenants:MaxRunningPerTenant, when set, is the highest share taken.
/// </summary>
public static class FairClaim
{
    /// <summary>
    /// The tenants with pending jobs, one index probe each (a loose index scan on
    /// ix_jobs_claim): two probes with one tenant, however many jobs it has. The probes go from
    /// the last tenant down, each landing on its tenant's newest pending jobs: on PostgreSQL the
    /// front of a tenant's line is where claimed jobs leave entries that stay (dead) until a
    /// vacuum, and a probe from the front stepped over all of them (~100 index pages ten
    /// thousand claims into a drain), as the tenant's own scan in the claim does once more.
    /// </summary>
    public const string Tenants = """
        tenants(tenant_id) AS (
            SELECT (SELECT tenant_id FROM jobs WHERE status = 'pending' ORDER BY tenant_id DESC LIMIT 1)
            UNION ALL
            SELECT (SELECT j.tenant_id FROM jobs AS j WHERE j.status = 'pending' AND j.tenant_id < t.tenant_id ORDER BY j.tenant_id DESC LIMIT 1)
            FROM tenants AS t WHERE t.tenant_id IS NOT NULL)
        """;

    /// <summary>
    /// Whether claiming a job calls its webhook: it has a callback_url whose callback_events ask
    /// for job.started, the only webhook a claim calls, whose outbox row is written in the claim's
    /// transaction. Most callbacks want only how a job ended.
    /// </summary>
    public static readonly string CallsStarted = Webhooks.WebhookTypes.AskedForSql(Webhooks.WebhookTypes.Started);

    /// <summary>
    /// What a claim that must write nothing beside itself adds to its UPDATE (<see cref="ClaimRequest.RefuseWebhookCalls"/>):
    /// when any picked job's claim calls its webhook (<see cref="CallsStarted"/>), it claims none of
    /// them. Each candidate group carries <c>calls_started</c> from the row it read (a second
    /// look-up of the picked rows cost a 1,000-job claim about as much as it saved).
    /// </summary>
    public static string Refusing(ClaimRequest request) => request.RefuseWebhookCalls
        ? " AND NOT EXISTS (SELECT 1 FROM picked WHERE calls_started)"
        : "";

    /// <summary>Whether a second tenant has pending jobs (<see cref="Tenants"/> ends with a null).</summary>
    const string AnotherTenant = "EXISTS (SELECT 1 FROM tenants WHERE tenant_id IS NOT NULL LIMIT 1 OFFSET 1)";

    /// <summary>
    /// <c>shares</c> places each candidate in its tenant's line; <c>picked</c> takes the lowest
    /// shares (then priority), at most each quota's limit of its group and <c>@limit</c> in all.
    /// With one group and no cap, a lone tenant's candidates are the pick as they are: the shares'
    /// sorts and windows run only when another tenant waits (docs/benchmarks.md, fifty-first
    /// session: 2–3 ms of a 1,000-job claim on PostgreSQL).
    /// </summary>
    public static string Picked(ClaimRequest request)
    {
        var groups = string.Join(" UNION ALL ", request.Quotas.Select((_, i) => $"SELECT * FROM g{i}"));
        var limits = string.Join(" ", request.Quotas.Select((_, i) => $"WHEN {i} THEN @limit{i}"));
        var perTenant = request.MaxRunningPerTenant > 0 ? " AND share <= @max_running" : "";
        // Running counts only matter between tenants (or under a cap): with one tenant waiting the
        // scan of every running job is skipped, and shares are just the tenant's own order.
        var counted = request.MaxRunningPerTenant > 0 ? "" : $" AND {AnotherTenant}";
        var fair = $"""
                SELECT id, calls_started FROM (
                    SELECT id, priority, run_at, share, quota, calls_started,
                        ROW_NUMBER() OVER (PARTITION BY quota ORDER BY share, priority DESC, run_at, id) AS nth
                    FROM shares) AS ranked
                WHERE nth <= CASE quota {limits} END{perTenant}
                ORDER BY share, priority DESC, run_at, id
                LIMIT @limit
            """;
        // A lone tenant's group is the pick as it is: it holds at most @limit0 jobs, which is at most
        // @limit (ClaimRequest.GroupLimit). Each side's condition reads no row: PostgreSQL tests it
        // once and does not run the side it rules out (its plan says "never executed").
        var pick = request.Quotas.Count == 1 && request.MaxRunningPerTenant == 0
            ? $"""
                SELECT id, calls_started FROM g0 WHERE NOT {AnotherTenant}
                UNION ALL
                SELECT id, calls_started FROM (
                {fair}) AS fair
                WHERE {AnotherTenant}
            """
            : fair;
        return $"""
            running AS (
                SELECT tenant_id, COUNT(*) AS n FROM jobs WHERE status = 'running'{counted} GROUP BY tenant_id),
            shares AS (
                SELECT c.quota, c.id, c.priority, c.run_at, c.calls_started, COALESCE(r.n, 0)
                    + ROW_NUMBER() OVER (PARTITION BY c.tenant_id ORDER BY c.priority DESC, c.run_at, c.id) AS share
                FROM ({groups}) AS c LEFT JOIN running AS r ON r.tenant_id = c.tenant_id),
            picked AS (
            {pick})
            """;
    }
}
