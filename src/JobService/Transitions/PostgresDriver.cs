using System.Data.Common;
using JobService.Data;
using Npgsql;
using NpgsqlTypes;

namespace JobService.Transitions;

/// <summary>
/// PostgreSQL: lists travel as arrays (<c>= ANY</c>, <c>unnest</c>), the claim locks with
/// <c>FOR UPDATE SKIP LOCKED</c> so that concurrent claimers pass over each other's rows instead
/// of waiting, and JSON is <c>jsonb</c>. Rows are unnested in the select list, one
/// <c>unnest</c> per column (run in lockstep), not as <c>FROM unnest(a, b, …)</c>: that form
/// fills a tuplestore per array, and freeing 17 of them made glibc hand the memory back to the
/// kernel after every statement (a fifth of the server's CPU on POST /jobs, docs/benchmarks.md).
/// </summary>
public sealed class PostgresDriver(PostgresNotifier notifier) : IJobDriver
{
    public IJobNotifier Notifier => notifier;

    public string SkipLocked => "FOR UPDATE SKIP LOCKED";

    public bool WritesCommitAlone => true;

    /// <summary>Three more tries, within about a second and a half, as EF Core's retrying strategy gave before.</summary>
    static readonly TimeSpan[] ReadRetryPauses = [TimeSpan.FromMilliseconds(100), TimeSpan.FromMilliseconds(400), TimeSpan.FromSeconds(1)];

    public async Task<T> ReadAsync<T>(Func<CancellationToken, Task<T>> read, CancellationToken ct)
    {
        for (var retry = 0; ; retry++)
        {
            try { return await read(ct); }
            catch (Exception e) when (retry < ReadRetryPauses.Length && !ct.IsCancellationRequested && DatabaseErrors.IsUnavailable(e))
            {
                await Task.Delay(ReadRetryPauses[retry], ct);
            }
        }
    }

    /// <summary>Row locks let writers run side by side: nothing to queue.</summary>
    public ValueTask<IDisposable?> BeginWriteAsync(CancellationToken ct) => ValueTask.FromResult<IDisposable?>(null);

    /// <summary>
    /// Each per-type quota is a group of candidates: every tenant's next jobs of those types, locked
    /// as they are read with SKIP LOCKED, so that concurrent claimers pass over each other's rows
    /// (a locked candidate not picked is freed at commit). <see cref="FairClaim"/> picks among them.
    /// <c>{calls_started}</c> is <see cref="FairClaim.CallsStarted"/>: whether the job's claim calls its webhook.
    /// </summary>
    static readonly string Group = """
        g{0} AS (
            SELECT {0} AS quota, c.* FROM tenants AS t CROSS JOIN LATERAL (
                SELECT id, tenant_id, priority, run_at, {calls_started} AS calls_started FROM jobs
                WHERE status = 'pending' AND tenant_id = t.tenant_id AND run_at <= @now AND type = ANY(@types{0})
                ORDER BY priority DESC, run_at, id
                LIMIT @limit{0}
                FOR UPDATE SKIP LOCKED) AS c)
        """.Replace("{calls_started}", FairClaim.CallsStarted);

    /// <summary>
    /// Marks the picked jobs running and appends their claimed events in the same statement
    /// (worded from <see cref="Story.ClaimedTemplate"/>), one round trip fewer per claim than a separate insert.
    /// <para>
    /// An event's line and data depend only on the job's attempt and max_attempts, which most jobs of
    /// a claim share, so they are worded once for each pair: the rows are grouped by what the wording
    /// reads, and each group's ids and seqs are unnested beside its one line and data (array_agg
    /// keeps one order for all of a group's arrays). Each event's own <c>format</c> and
    /// <c>jsonb_build_object</c> took 3–5 µs of the server's time, 35–45 % of a 1,000-job claim's
    /// event insert (docs/benchmarks.md, fiftieth session). The completion words its events the same
    /// way, and so does the insert when its jobs agree (<see cref="InsertSql"/>). A GROUP BY, unlike a
    /// join back to the groups, also holds NULLs together.
    /// </para>
    /// </summary>
    static readonly string MarkRunning = """
        claimed AS (
            UPDATE jobs SET status = 'running', attempt = attempt + 1, locked_by = @worker, locked_until = @lease_until,
                started_at = @now, updated_at = @now, progress = 0, message = 'Running', error = NULL, event_seq = event_seq + 1
            WHERE jobs.id = ANY(ARRAY(SELECT id FROM picked)){refusing}
            RETURNING jobs.id, jobs.type, jobs.attempt, jobs.max_attempts, jobs.event_seq, jobs.run_at, jobs.payload,
                jobs.callback_url IS NOT NULL AS has_callback, {calls_started} AS calls_started),
        told AS (
            INSERT INTO job_events (job_id, seq, kind, level, message, data, created_at)
            SELECT unnest(ids), unnest(seqs), @event_kind, @event_level, message, data, @now FROM (
                SELECT array_agg(id) AS ids, array_agg(event_seq) AS seqs, format(@event_line, @worker, attempt, max_attempts) AS message,
                    jsonb_build_object('status', 'running', 'attempt', attempt, 'max_attempts', max_attempts, 'worker', @worker) AS data
                FROM claimed GROUP BY attempt, max_attempts) AS worded)
        SELECT id, type, attempt, max_attempts, event_seq, run_at, payload, has_callback, calls_started FROM claimed{refused}
        """.Replace("{calls_started}", FairClaim.CallsStarted);

    /// <summary>
    /// A refusing claim's word that it took nothing because it refused (not because nothing was
    /// due): a row of nulls, so that an empty queue costs one round trip, not a second claim.
    /// </summary>
    const string RefusedRow = "\n        UNION ALL SELECT NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL WHERE EXISTS (SELECT 1 FROM picked WHERE calls_started)";

    /// <summary>
    /// The claim's command text, built once for each shape (<see cref="ClaimStatements"/>). It starts
    /// with <see cref="GenericPlan"/>, so the claim is planned once per connection, not at every
    /// claim: a custom plan of this statement took longer to make (about 0.9 ms) than to run. The
    /// generic plan's shape does not depend on the values (jobs.id = ANY(ARRAY(…)) keeps the update
    /// on the primary key whatever the estimated count), docs/benchmarks.md.
    /// </summary>
    readonly ClaimStatements _claims = new(request =>
    {
        var groups = string.Join(",\n", request.Quotas.Select((_, i) => string.Format(Group, i)));
        var mark = MarkRunning.Replace("{refusing}", FairClaim.Refusing(request)).Replace("{refused}", request.RefuseWebhookCalls ? RefusedRow : "");
        return $"{GenericPlan}WITH RECURSIVE {FairClaim.Tenants},\n{groups},\n{FairClaim.Picked(request)},\n{mark}";
    });

    public string ClaimSql(ClaimRequest request) => _claims.For(request);

    public async Task<ClaimResult> ClaimAsync(TransitionTx tx, ClaimRequest request, CancellationToken ct)
    {
        if (request.Limit <= 0 || request.Quotas.Count == 0) return ClaimResult.None;
        if (request.MaxRunningPerTenant > 0)
        {
            // Running counts are read at the statement's start: claims take turns, so that two
            // workers cannot both see room for a tenant's last slot.
            await using var turn = tx.Command("SELECT pg_advisory_xact_lock(hashtext('jobservice.claim'))");
            await turn.ExecutePreparedAsync(ct);
        }
        await using var command = tx.Command(ClaimSql(request));
        Bind(command, "now", request.Now);
        Bind(command, "worker", request.WorkerId);
        Bind(command, "lease_until", request.LeaseUntil);
        Bind(command, "limit", request.Limit);
        BindEventTemplate(command, Story.ClaimedTemplate);
        if (request.MaxRunningPerTenant > 0) Bind(command, "max_running", (long)request.MaxRunningPerTenant);
        for (var i = 0; i < request.Quotas.Count; i++)
        {
            Bind(command, $"types{i}", request.Quotas[i].Types.ToArray());
            Bind(command, $"limit{i}", request.GroupLimit(i));
        }
        var rows = await tx.RowsAsync(command, r => r.IsDBNull(0) ? default : (Row: JobRow.Claimed(r.GetGuid(0), r.GetString(1), r.GetInt32(2),
            r.GetInt32(3), r.GetInt64(4), r.GetDateTime(5), r.GetBoolean(8), request), Payload: r.GetString(6), HasCallbackUrl: r.GetBoolean(7)), ct, skipResults: 1);
        var refused = rows.RemoveAll(c => c.Row is null) > 0; // the RefusedRow
        return new ClaimResult(rows, refused);
    }

    /// <summary>
    /// Put before a statement (its result skipped): the statement is planned generically, the same
    /// plan whatever the values, and set_config(…, true) holds to the end of the transaction, also the
    /// implicit one of a statement that commits by itself (where SET LOCAL warns).
    /// </summary>
    const string GenericPlan = "SELECT set_config('plan_cache_mode', 'force_generic_plan', true);\n";

    public async Task<IReadOnlyList<JobRow>> CompleteAsync(TransitionTx tx, IReadOnlyList<Completion> completions, CancellationToken ct)
    {
        if (completions.Count == 0) return [];
        // Completions of one worker share its id; the fence is per row (id, attempt) plus the worker.
        // The completed events are appended by the same statement (Story.CompletedTemplate; how
        // long it ran is worded as Story.Seconds words it: whole ms under a second, else seconds
        // to one decimal; both round half away from zero), one round trip fewer per batch; their
        // data is built once for each attempt and max_attempts, as the claim's is (MarkRunning).
        // The fence is joined, not filtered (LeaseFence): see there. Planned generically, as the
        // claim is: a custom plan knows the list's length (up to 1,000) and, on a table of tens of
        // thousands of rows, hashed a scan of all of it rather than look the rows up by id
        // (docs/benchmarks.md); the generic plan looks them up, and is not made again each time.
        await using var command = tx.Command(GenericPlan + $"""
            WITH done AS (
                UPDATE jobs AS j SET status = 'completed', progress = 100, message = 'Completed', result = v.result::jsonb,
                    error = NULL, completed_at = @now, updated_at = @now, locked_by = NULL, locked_until = NULL, event_seq = j.event_seq + 1
                FROM (SELECT unnest(@ids) AS id, unnest(@attempts) AS attempt, unnest(@results) AS result, {LeaseFence}) AS v
                WHERE j.id = v.id AND j.attempt = v.attempt AND j.locked_by = v.locked_by AND j.status = v.status
                RETURNING j.id, j.attempt, j.type, j.max_attempts, j.event_seq, j.started_at, j.callback_url IS NOT NULL AS has_callback,
                    extract(epoch FROM @now - j.started_at) * 1000 AS ran_ms),
            told AS (
                INSERT INTO job_events (job_id, seq, kind, level, message, data, created_at)
                SELECT unnest(ids), unnest(seqs), @event_kind, @event_level, unnest(lines), data, @now FROM (
                    SELECT array_agg(id) AS ids, array_agg(event_seq) AS seqs,
                        array_agg(format(@event_line, CASE WHEN ran_ms < 1000 THEN round(ran_ms) || ' ms' ELSE trim_scale(round(ran_ms / 1000, 1)) || ' s' END,
                            attempt, max_attempts)) AS lines,
                        jsonb_build_object('status', 'completed', 'attempt', attempt, 'max_attempts', max_attempts, 'progress', 100,
                            'message', 'Completed', 'error', NULL) AS data
                    FROM done GROUP BY attempt, max_attempts) AS worded)
            SELECT id, attempt, type, max_attempts, event_seq, started_at, has_callback FROM done
            """);
        Bind(command, "now", tx.Now);
        BindEventTemplate(command, Story.CompletedTemplate);
        Bind(command, "worker", completions[0].Lease.WorkerId);
        Bind(command, "ids", completions.Select(c => c.Lease.JobId).ToArray());
        Bind(command, "attempts", completions.Select(c => c.Lease.Attempt).ToArray());
        command.Parameters.Add(new NpgsqlParameter("results", NpgsqlDbType.Array | NpgsqlDbType.Text) { Value = completions.Select(c => c.Result).ToArray() });
        return await tx.RowsAsync(command, r => JobRow.Completed(new JobLease(r.GetGuid(0), r.GetInt32(1), completions[0].Lease.WorkerId),
            r.GetString(2), r.GetInt32(3), r.GetInt64(4), r.GetDateTime(5), r.GetBoolean(6), tx.Now), ct, skipResults: 1);
    }

    /// <summary>
    /// One statement for every job listed, fenced by a join as the completion is (<see cref="LeaseFence"/>;
    /// the list's columns are named apart from the job's, which RETURNING reads) and planned generically
    /// for the same reason.
    /// </summary>
    public async Task<IReadOnlyList<JobRow>> WriteRunningAsync(TransitionTx tx, IReadOnlyList<RunningWrite> writes, CancellationToken ct)
    {
        await using var command = tx.Command(GenericPlan + $"""
            UPDATE jobs AS j SET
                progress = CASE WHEN w.new_progress IS NULL OR j.progress > w.new_progress THEN j.progress ELSE w.new_progress END,
                message = COALESCE(w.new_message, j.message),
                prompt_tokens = CASE WHEN w.add_prompt IS NULL THEN j.prompt_tokens ELSE COALESCE(j.prompt_tokens, 0) + w.add_prompt END,
                completion_tokens = CASE WHEN w.add_prompt IS NULL THEN j.completion_tokens ELSE COALESCE(j.completion_tokens, 0) + w.add_completion END,
                total_tokens = CASE WHEN w.add_prompt IS NULL THEN j.total_tokens ELSE COALESCE(j.total_tokens, 0) + w.add_prompt + w.add_completion END,
                cost_usd = CASE WHEN w.add_prompt IS NULL THEN j.cost_usd ELSE COALESCE(j.cost_usd, 0) + w.add_cost END,
                usage_detail = COALESCE(w.new_detail, j.usage_detail),
                checkpoint = COALESCE(w.new_checkpoint, j.checkpoint),
                updated_at = CASE WHEN w.new_progress IS NULL AND w.add_prompt IS NULL THEN j.updated_at ELSE @now END,
                event_seq = j.event_seq + w.new_events
            FROM (SELECT unnest(@ids) AS job_id, unnest(@attempts) AS held_attempt, unnest(@progress) AS new_progress,
                unnest(@messages) AS new_message, unnest(@prompts) AS add_prompt, unnest(@completions) AS add_completion,
                unnest(@costs) AS add_cost, unnest(@details) AS new_detail, unnest(@checkpoints) AS new_checkpoint, unnest(@events) AS new_events,
                @worker AS held_by, 'running' AS held_status) AS w
            WHERE j.id = w.job_id AND j.attempt = w.held_attempt AND j.locked_by = w.held_by AND j.status = w.held_status
            RETURNING {JobRow.Columns}
            """);
        Bind(command, "now", tx.Now);
        Bind(command, "worker", writes[0].Lease.WorkerId);
        Bind(command, "ids", writes.Select(w => w.Lease.JobId).ToArray());
        Bind(command, "attempts", writes.Select(w => w.Lease.Attempt).ToArray());
        Bind(command, "progress", writes.Select(w => w.Progress?.Value).ToArray());
        command.Parameters.Add(new NpgsqlParameter("messages", NpgsqlDbType.Array | NpgsqlDbType.Text) { Value = writes.Select(w => w.Progress?.Message).ToArray() });
        Bind(command, "prompts", writes.Select(w => w.Usage?.Call.PromptTokens).ToArray());
        Bind(command, "completions", writes.Select(w => w.Usage?.Call.CompletionTokens).ToArray());
        Bind(command, "costs", writes.Select(w => w.Usage?.Call.CostUsd).ToArray());
        command.Parameters.Add(new NpgsqlParameter("details", NpgsqlDbType.Array | NpgsqlDbType.Jsonb) { Value = writes.Select(w => w.Usage?.Detail).ToArray() });
        command.Parameters.Add(new NpgsqlParameter("checkpoints", NpgsqlDbType.Array | NpgsqlDbType.Jsonb) { Value = writes.Select(w => w.Keep).ToArray() });
        Bind(command, "events", writes.Select(w => w.Events).ToArray());
        return await tx.RowsAsync(command, JobRow.Read, ct, skipResults: 1);
    }

    /// <summary>The event a statement appends itself: @event_kind, @event_level, @event_line (a format() template).</summary>
    void BindEventTemplate(DbCommand command, (string Kind, string Level, string Line) template)
    {
        Bind(command, "event_kind", template.Kind);
        Bind(command, "event_level", template.Level);
        Bind(command, "event_line", template.Line);
    }

    /// <summary>
    /// The lease a worker's statement must still hold (this worker's, running), as columns of the
    /// rows it lists, so that the fence is a join condition. Written as a filter on jobs
    /// (<c>locked_by = @worker AND status = 'running'</c>), it let the planner read this worker's
    /// running jobs through ix_jobs_claim first, at the estimate of the last ANALYZE (often taken
    /// when almost nothing ran: one row), and compare each with every listed id: at 1,000 slots
    /// with jobs claimed ahead, 3,000 held jobs × 1,000 ids made a completion take 0.3–1.6 s
    /// instead of ~40 ms, and a renewal of 9,000 leases 0.2–0.7 s (docs/benchmarks.md). A list
    /// unnested in the select list cannot be flattened into the query (it returns a set), so
    /// nothing but the join reaches the table, and the rows are found by id on the primary key.
    /// </summary>
    const string LeaseFence = "@worker AS locked_by, 'running' AS status";

    public async Task<IReadOnlyList<HeldJob>> RenewLeasesAsync(TransitionTx tx, string workerId, IReadOnlyCollection<Guid> ids, DateTime until, CancellationToken ct,
        bool skipBusy = false)
    {
        // Skipping: the rows are locked first, without waiting (SKIP LOCKED), and only those are updated.
        var free = skipBusy ? "\n            AND j.id IN (SELECT id FROM jobs WHERE id = ANY(@ids) FOR NO KEY UPDATE SKIP LOCKED)" : "";
        await using var command = tx.Command($"""
            UPDATE jobs AS j SET locked_until = @until
            FROM (SELECT unnest(@ids) AS id, {LeaseFence}) AS v
            WHERE j.id = v.id AND j.locked_by = v.locked_by AND j.status = v.status{free}
            RETURNING j.id, j.attempt, j.cancel_requested
            """);
        Bind(command, "until", until);
        Bind(command, "ids", ids.ToArray());
        Bind(command, "worker", workerId);
        return await tx.RowsAsync(command, r => new HeldJob(r.GetGuid(0), r.GetInt32(1), r.GetBoolean(2)), ct);
    }

    /// <summary>
    /// The jobs and their created events in one statement: the events are worded from the rows the
    /// insert returns (<see cref="Story.CreatedTemplate"/>, <see cref="CreatedData"/>), once for a
    /// submission's jobs that agree on it (<see cref="InsertSql"/>). A second statement of seven arrays, built and
    /// sent for every job, made a 1,000-job batch a fifth slower (docs/benchmarks.md). What one
    /// submission's jobs share (<see cref="SharedColumns"/>) is sent once, or as arrays for the jobs
    /// of several submits stored together; what differs travels as arrays, or as plain values for a
    /// single job, which PostgreSQL inserts without unnesting anything.
    /// </summary>
    public async Task<bool> InsertJobsAsync(TransitionTx tx, IReadOnlyList<Job> jobs, string source, CancellationToken ct)
    {
        if (!notifier.TryCarryWakeUp()) return await InsertAsync(tx, jobs, source, eventsNote: null, ct);
        try
        {
            // The created events' notice goes beside the wake-up when it fits in one notice; a bigger
            // batch carries neither, and the loop sends both.
            return await InsertAsync(tx, jobs, source, PostgresNotifier.EventsNote(jobs.Select(j => (j.Id, j.EventSeq))), ct);
        }
        finally
        {
            notifier.WakeUpCarried();
        }
    }

    /// <summary>The insert, and with <paramref name="eventsNote"/> the wake-up and that notice at its commit: returns whether it carried them.</summary>
    async Task<bool> InsertAsync(TransitionTx tx, IReadOnlyList<Job> jobs, string source, string? eventsNote, CancellationToken ct)
    {
        var mixed = jobs.Count > 1 && SharedColumns.Any(c => c.Differs(jobs));
        var sql = jobs.Count == 1 ? InsertOne : mixed ? InsertMixed : WordedColumns.Any(c => c.Differs(jobs)) ? InsertManyApart : InsertMany;
        await using var insert = tx.Command(sql + (eventsNote is null ? "" : Notices));
        if (eventsNote is not null)
        {
            Bind(insert, "node", notifier.NodeId);
            Bind(insert, "events_note", eventsNote);
        }
        BindEventTemplate(insert, Story.CreatedTemplate);
        Bind(insert, "source", source);
        Bind(insert, "now", tx.Now);
        var p = insert.Parameters;
        foreach (var shared in SharedColumns) p.Add(mixed ? shared.Values(jobs) : shared.Value(jobs[0]));
        foreach (var column in PerJobColumns) p.Add(jobs.Count == 1 ? column.Value(jobs[0]) : column.Values(jobs));
        try
        {
            await insert.ExecutePreparedAsync(ct);
            return eventsNote is not null;
        }
        catch (PostgresException e) when (e.SqlState == PostgresErrorCodes.UniqueViolation)
        {
            throw new DuplicateJobException(e);
        }
    }

    /// <summary>A column of the insert: one job's value as a parameter, or every job's as an array.</summary>
    abstract record Column(string Name)
    {
        public abstract NpgsqlParameter Value(Job job);
        public abstract NpgsqlParameter Values(IReadOnlyList<Job> jobs);
        public abstract bool Differs(IReadOnlyList<Job> jobs);
    }

    sealed record Column<T>(string Name, NpgsqlDbType Type, Func<Job, T> Of) : Column(Name)
    {
        public override NpgsqlParameter Value(Job job) => new(Name, Type) { Value = (object?)Of(job) ?? DBNull.Value };
        public override NpgsqlParameter Values(IReadOnlyList<Job> jobs) => new(Name, NpgsqlDbType.Array | Type) { Value = jobs.Select(Of).ToArray() };
        public override bool Differs(IReadOnlyList<Job> jobs)
        {
            var first = Of(jobs[0]);
            for (var i = 1; i < jobs.Count; i++)
                if (!EqualityComparer<T>.Default.Equals(Of(jobs[i]), first)) return true;
            return false;
        }
    }

    /// <summary>
    /// What the jobs of one submission (a POST /jobs/batch) have in common (one caller, one request,
    /// one moment, a new job): sent once. Jobs of several submissions stored together
    /// (<see cref="JobTransitions.SubmitAsync"/>'s group commit) send them as arrays too.
    /// </summary>
    static readonly Column[] SharedColumns =
    [
        new Column<string>("tenant_id", NpgsqlDbType.Text, j => j.TenantId),
        new Column<string>("status", NpgsqlDbType.Text, j => j.Status.ToName()),
        new Column<string?>("message", NpgsqlDbType.Text, j => j.Message),
        new Column<DateTime>("created_at", NpgsqlDbType.TimestampTz, j => j.CreatedAt),
        new Column<DateTime>("updated_at", NpgsqlDbType.TimestampTz, j => j.UpdatedAt),
        new Column<string?>("request_hash", NpgsqlDbType.Text, j => j.RequestHash),
        new Column<string?>("trace_parent", NpgsqlDbType.Text, j => j.TraceParent),
        new Column<long>("event_seq", NpgsqlDbType.Bigint, j => j.EventSeq),
    ];

    /// <summary>A column that differs from job to job within one submission: a value for a single job, an array for several.</summary>
    static readonly Column[] PerJobColumns =
    [
        new Column<Guid>("id", NpgsqlDbType.Uuid, j => j.Id),
        new Column<string>("type", NpgsqlDbType.Text, j => j.Type),
        new Column<string>("payload", NpgsqlDbType.Text, j => j.Payload),
        new Column<int>("priority", NpgsqlDbType.Integer, j => j.Priority),
        new Column<int>("max_attempts", NpgsqlDbType.Integer, j => j.MaxAttempts),
        new Column<DateTime>("run_at", NpgsqlDbType.TimestampTz, j => j.RunAt),
        new Column<string?>("callback_url", NpgsqlDbType.Text, j => j.CallbackUrl),
        new Column<string?>("callback_events", NpgsqlDbType.Text, j => j.CallbackEvents),
        new Column<string?>("idempotency_key", NpgsqlDbType.Text, j => j.IdempotencyKey),
    ];

    /// <summary>
    /// The jobs' own columns a created event's data reads besides the message (<see cref="CreatedData"/>):
    /// when a submission's jobs agree on them, their events are worded once.
    /// </summary>
    static readonly Column[] WordedColumns = PerJobColumns.Where(c => c.Name is "type" or "priority" or "max_attempts" or "run_at").ToArray();

    static readonly string InsertOne = InsertSql(one: true, mixed: false, alike: false), InsertMany = InsertSql(one: false, mixed: false, alike: true),
        InsertManyApart = InsertSql(one: false, mixed: false, alike: false), InsertMixed = InsertSql(one: false, mixed: true, alike: false);

    /// <summary>A created event's data: the job as submitted, run_at as the event JSON writes times (UTC, trailing zeros of the fraction trimmed).</summary>
    const string CreatedData = """
        jsonb_build_object('status', 'pending', 'type', type, 'priority', priority,
                'run_at', to_char(run_at, 'YYYY-MM-DD"T"HH24:MI:SS') || rtrim(rtrim(to_char(run_at, '.US'), '0'), '.') || 'Z',
                'max_attempts', max_attempts, 'message', message)
        """;

    /// <summary>A second statement of the insert's batch: one implicit transaction, so the notices go out at its commit.</summary>
    const string Notices = $";\nSELECT pg_notify('{PostgresNotifier.JobsChannel}', @node), pg_notify('{PostgresNotifier.EventsChannel}', @events_note)";

    /// <summary>
    /// The jobs from a list of columns (<c>j</c>), each a plain value for one job or an unnested
    /// array; what they share is a parameter of its own, or with <paramref name="mixed"/> a listed column too.
    /// With <paramref name="alike"/> (one submission's jobs that agree on what their created events
    /// say) the events are grouped and worded once, as the claim words its events (MarkRunning);
    /// otherwise row by row: grouping rows that all differ cost about 3 µs more an event than
    /// wording each (docs/benchmarks.md, fiftieth session), and the submits a group commit stores
    /// together differ at least in run_at.
    /// </summary>
    static string InsertSql(bool one, bool mixed, bool alike)
    {
        var listed = one ? PerJobColumns : mixed ? [.. PerJobColumns, .. SharedColumns] : PerJobColumns;
        string Shared(string name) => mixed ? name : "@" + name;
        return $"""
            WITH inserted AS (
                INSERT INTO jobs (id, tenant_id, type, status, progress, message, payload, priority, attempt, max_attempts, run_at,
                    cancel_requested, callback_url, callback_events, created_at, updated_at, idempotency_key, request_hash,
                    trace_parent, rescue_count, event_seq)
                SELECT id, {Shared("tenant_id")}, type, {Shared("status")}, 0, {Shared("message")}, payload::jsonb, priority, 0, max_attempts, run_at,
                    FALSE, callback_url, callback_events, {Shared("created_at")}, {Shared("updated_at")}, idempotency_key, {Shared("request_hash")},
                    {Shared("trace_parent")}, 0, {Shared("event_seq")}
                FROM (SELECT {string.Join(", ", listed.Select(c => one ? $"@{c.Name} AS {c.Name}" : $"unnest(@{c.Name}) AS {c.Name}"))}) AS j
                RETURNING id, event_seq, type, priority, max_attempts, run_at AT TIME ZONE 'UTC' AS run_at, message)
            INSERT INTO job_events (job_id, seq, kind, level, message, data, created_at)
            {(alike ? $"""
                SELECT unnest(ids), unnest(seqs), @event_kind, @event_level, line, data, @now FROM (
                    SELECT array_agg(id) AS ids, array_agg(event_seq) AS seqs, format(@event_line, @source) AS line,
                        {CreatedData} AS data
                    FROM inserted GROUP BY type, priority, run_at, max_attempts, message) AS worded
                """ : $"""
                SELECT id, event_seq, @event_kind, @event_level, format(@event_line, @source), {CreatedData}, @now FROM inserted
                """)}
            """;
    }

    public async Task InsertEventsAsync(TransitionTx tx, IReadOnlyList<JobEvent> events, CancellationToken ct)
    {
        if (events.Count == 0) return;
        await using var insert = tx.Command("""
            INSERT INTO job_events (job_id, seq, kind, level, message, data, created_at)
            SELECT unnest(@job_ids), unnest(@seqs), unnest(@kinds), unnest(@levels), unnest(@messages), unnest(@data::jsonb[]), unnest(@created)
            """);
        var p = insert.Parameters;
        p.Add(new NpgsqlParameter("job_ids", events.Select(e => e.JobId).ToArray()));
        p.Add(new NpgsqlParameter("seqs", events.Select(e => e.Seq).ToArray()));
        p.Add(new NpgsqlParameter("kinds", events.Select(e => e.Kind).ToArray()));
        p.Add(new NpgsqlParameter("created", events.Select(e => e.CreatedAt).ToArray()));
        foreach (var (name, values) in new[] { ("levels", events.Select(e => e.Level)), ("messages", events.Select(e => e.Message)), ("data", events.Select(e => e.Data)) })
            p.Add(new NpgsqlParameter(name, NpgsqlDbType.Array | NpgsqlDbType.Text) { Value = values.ToArray() });
        await insert.ExecutePreparedAsync(ct);
    }

    public async Task LockTenantAsync(TransitionTx tx, string tenant, CancellationToken ct)
    {
        await using var command = tx.Command("SELECT pg_advisory_xact_lock(hashtextextended(@tenant, 7419))");
        Bind(command, "tenant", tenant);
        await command.ExecutePreparedAsync(ct);
    }

    public void Bind(DbCommand command, string name, object? value) =>
        command.Parameters.Add(new NpgsqlParameter(name, value ?? DBNull.Value));

    public string IdIn(string parameter, string column = "id") => $"{column} = ANY(@{parameter})";

    /// <summary>
    /// The states travel as a column of the list, so that they are a join condition, as the
    /// worker's lease fence does (<see cref="LeaseFence"/>). Written as a filter
    /// (<c>id = ANY(@ids) AND status IN (…)</c>), an ANALYZE that saw no failed jobs made a retry
    /// of 1,000 ids read every failed job through ix_jobs_claim and look each up in the list:
    /// 68–78 ms as a generic plan with 20,000 failed, growing with them; 15–17 ms now (docs/decisions.md).
    /// </summary>
    public string ListedIn(string parameter, string states, bool delete = false) =>
        $"{(delete ? "USING" : "FROM")} (SELECT unnest(@{parameter}) AS listed_id, ARRAY[{states}] AS listed_states) AS listed " +
        "WHERE id = listed_id AND status = ANY(listed_states)";

    /// <summary>
    /// Sorted: a statement that walks the list locks its rows in list order, and two transactions
    /// that lock overlapping lists in one order cannot deadlock on each other (as a primary-key
    /// scan of <c>id = ANY(…)</c>, which sorts the list itself, never did).
    /// </summary>
    public object Ids(IEnumerable<Guid> ids) => ids.Order().ToArray();
}
