using System.Data.Common;
using System.Globalization;
using System.Text.Json;
using JobService.Data;
using Microsoft.Data.Sqlite;

namespace JobService.Transitions;

/// <summary>
/// SQLite: no row locks are needed for the claim: an UPDATE takes the database's single write
/// lock before it reads, so two claims run one after the other and the second sees the first's
/// rows as running. Lists travel as JSON arrays (<c>json_each</c>), since SQLite has no array
/// parameters; ids are stored as upper-case text and times as text, as EF Core writes them.
/// </summary>
public sealed class SqliteDriver(InProcessNotifier notifier) : IJobDriver
{
    public IJobNotifier Notifier => notifier;

    public string SkipLocked => "";

    public bool WritesCommitAlone => false;

    public Task<T> ReadAsync<T>(Func<CancellationToken, Task<T>> read, CancellationToken ct) => read(ct);

    readonly SemaphoreSlim _writer = new(1, 1);

    public async ValueTask<IDisposable?> BeginWriteAsync(CancellationToken ct)
    {
        await _writer.WaitAsync(ct);
        return new Release(_writer);
    }

    sealed class Release(SemaphoreSlim writer) : IDisposable
    {
        int _done;
        public void Dispose() { if (Interlocked.Exchange(ref _done, 1) == 0) writer.Release(); }
    }

    /// <summary>
    /// Each per-type quota is a group of candidates: every tenant's next jobs of those types.
    /// SQLite has no LATERAL; <c>j.id IN (a subquery on t)</c> does the same, the subquery run once
    /// per tenant. <see cref="FairClaim"/> picks among them. <c>{calls_started}</c> is
    /// <see cref="FairClaim.CallsStarted"/>: whether the job's claim calls its webhook.
    /// </summary>
    static readonly string Group = """
        g{0} AS (
            SELECT {0} AS quota, j.id, j.tenant_id, j.priority, j.run_at, {calls_started} AS calls_started FROM tenants AS t JOIN jobs AS j ON j.id IN (
                SELECT id FROM jobs
                WHERE status = 'pending' AND tenant_id = t.tenant_id AND run_at <= @now
                    AND type IN (SELECT value FROM json_each(@types{0}))
                ORDER BY priority DESC, run_at, id
                LIMIT @limit{0}))
        """.Replace("{calls_started}", FairClaim.CallsStarted);

    static readonly string MarkRunning = """
        UPDATE jobs SET status = 'running', attempt = attempt + 1, locked_by = @worker, locked_until = @lease_until,
            started_at = @now, updated_at = @now, progress = 0, message = 'Running', error = NULL, event_seq = event_seq + 1
        WHERE id IN (SELECT id FROM picked){refusing}
        RETURNING id, type, attempt, max_attempts, event_seq, run_at, payload, callback_url IS NOT NULL, {calls_started}
        """.Replace("{calls_started}", FairClaim.CallsStarted);

    /// <summary>Whether a refusing claim (<see cref="ClaimRequest.RefuseWebhookCalls"/>) that took nothing refused: its pick, looked at again in its transaction.</summary>
    const string PickCallsStarted = "SELECT EXISTS (SELECT 1 FROM picked WHERE calls_started)";

    readonly ClaimStatements _claims = new(request => Picking(request) + MarkRunning.Replace("{refusing}", FairClaim.Refusing(request)));

    public string ClaimSql(ClaimRequest request) => _claims.For(request);

    static string Picking(ClaimRequest request)
    {
        var groups = string.Join(",\n", request.Quotas.Select((_, i) => string.Format(Group, i)));
        return $"WITH RECURSIVE {FairClaim.Tenants},\n{groups},\n{FairClaim.Picked(request)}\n";
    }

    public async Task<ClaimResult> ClaimAsync(TransitionTx tx, ClaimRequest request, CancellationToken ct)
    {
        if (request.Limit <= 0 || request.Quotas.Count == 0) return ClaimResult.None;
        await using var command = BindClaim(tx.Command(ClaimSql(request)), request);
        var claimed = await tx.RowsAsync(command, r => (Row: JobRow.Claimed(r.GetGuid(0), r.GetString(1), r.GetInt32(2), r.GetInt32(3), r.GetInt64(4),
            JobRow.Utc(r, 5), r.GetBoolean(8), request), Payload: r.GetString(6), HasCallbackUrl: r.GetBoolean(7)), ct);
        if (claimed.Count > 0) await AppendEventsAsync(tx, ClaimedEvents, Story.ClaimedTemplate, Ids(claimed.Select(c => c.Row.Id)), request.WorkerId, ct);
        else if (request.RefuseWebhookCalls)
        {
            // SQLite's claims never commit by themselves (WritesCommitAlone), so this second
            // look, in the same transaction under the one writer, serves the contract, not a worker.
            await using var check = BindClaim(tx.Command(Picking(request) + PickCallsStarted), request);
            return new ClaimResult(claimed, Refused: Convert.ToInt64(await check.ExecuteScalarAsync(ct)) == 1);
        }
        return new ClaimResult(claimed);
    }

    DbCommand BindClaim(DbCommand command, ClaimRequest request)
    {
        Bind(command, "now", request.Now);
        Bind(command, "worker", request.WorkerId);
        Bind(command, "lease_until", request.LeaseUntil);
        Bind(command, "limit", request.Limit);
        if (request.MaxRunningPerTenant > 0) Bind(command, "max_running", request.MaxRunningPerTenant);
        for (var i = 0; i < request.Quotas.Count; i++)
        {
            Bind(command, $"types{i}", JsonSerializer.Serialize(request.Quotas[i].Types));
            Bind(command, $"limit{i}", request.GroupLimit(i));
        }
        return command;
    }

    /// <summary>
    /// The claimed events, worded by SQL from the rows as PostgreSQL's claim statement words them
    /// (SQLite has no data-modifying CTE, so it is a second statement, in-process): no event JSON to
    /// build in C# and parse again, per job. Tests compare them with <see cref="Story"/>'s.
    /// </summary>
    const string ClaimedEvents = """
        INSERT INTO job_events (job_id, seq, kind, level, message, data, created_at)
        SELECT id, event_seq, @event_kind, @event_level, format(@event_line, @by, attempt, max_attempts),
            json_object('status', 'running', 'attempt', attempt, 'max_attempts', max_attempts, 'worker', @by), @now
        FROM jobs WHERE id IN (SELECT value FROM json_each(@ids))
        """;

    /// <summary>
    /// The completed events. How long the job ran is worded as <see cref="Story"/> words it (whole
    /// ms under a second, else seconds to one decimal, half away from zero), from exact ticks:
    /// times are stored as text to the 100 ns, and SQLite's date functions read only milliseconds.
    /// (In SQLite, <c>||</c> binds tighter than <c>/</c> and <c>%</c>: hence the parentheses.)
    /// </summary>
    const string CompletedEvents = """
        WITH done AS (
            SELECT id, event_seq, attempt, max_attempts,
                (unixepoch(substr(@now, 1, 19)) - unixepoch(substr(started_at, 1, 19))) * 10000000
                    + CAST(substr(substr(@now, 21) || '0000000', 1, 7) AS INTEGER)
                    - CAST(substr(substr(started_at, 21) || '0000000', 1, 7) AS INTEGER) AS ticks
            FROM jobs WHERE id IN (SELECT value FROM json_each(@ids))),
        worded AS (
            SELECT *, CAST(round(ticks / 10000.0) AS INTEGER) AS ms, CAST(round(ticks / 1000000.0) AS INTEGER) AS tenths FROM done)
        INSERT INTO job_events (job_id, seq, kind, level, message, data, created_at)
        SELECT id, event_seq, @event_kind, @event_level,
            format(@event_line, CASE WHEN ticks < 10000000 THEN ms || ' ms'
                ELSE (tenths / 10) || rtrim(rtrim('.' || (tenths % 10), '0'), '.') || ' s' END, attempt, max_attempts),
            json_object('status', 'completed', 'attempt', attempt, 'max_attempts', max_attempts, 'progress', 100,
                'message', 'Completed', 'error', NULL), @now
        FROM worded
        """;

    /// <summary>
    /// Appends the events one of the statements here words, for the jobs in <paramref name="ids"/> (a
    /// JSON array, as <see cref="Ids"/> makes it); <paramref name="by"/> is @by: the claiming worker, or who created the jobs.
    /// </summary>
    async Task AppendEventsAsync(TransitionTx tx, string sql, (string Kind, string Level, string Line) template, object ids,
        string by, CancellationToken ct)
    {
        await using var insert = tx.Command(sql);
        Bind(insert, "event_kind", template.Kind);
        Bind(insert, "event_level", template.Level);
        Bind(insert, "event_line", template.Line);
        Bind(insert, "by", by);
        Bind(insert, "now", tx.Now);
        Bind(insert, "ids", ids);
        await insert.ExecuteNonQueryAsync(ct);
    }

    /// <summary>
    /// One prepared UPDATE per row inside the caller's transaction (a single commit, one fsync,
    /// for the batch), then one SELECT for what the events need: under SQLite's single writer
    /// nothing changes the rows in between. (A single UPDATE … FROM json_each would join every
    /// running job against the whole list: SQLite plans it from the jobs side, which grows with
    /// the square of the batch; and RETURNING on each row costs a reader per row.)
    /// </summary>
    public async Task<IReadOnlyList<JobRow>> CompleteAsync(TransitionTx tx, IReadOnlyList<Completion> completions, CancellationToken ct)
    {
        if (completions.Count == 0) return [];
        await using var update = tx.Command("""
            UPDATE jobs SET status = 'completed', progress = 100, message = 'Completed', result = @result,
                error = NULL, completed_at = @now, updated_at = @now, locked_by = NULL, locked_until = NULL, event_seq = event_seq + 1
            WHERE id = @id AND attempt = @attempt AND locked_by = @worker AND status = 'running'
            """);
        Bind(update, "now", tx.Now);
        Bind(update, "worker", completions[0].Lease.WorkerId);
        var id = Add(update, "id");
        var attempt = Add(update, "attempt");
        var result = Add(update, "result");
        await update.PrepareAsync(ct);
        var written = new Dictionary<Guid, Completion>();
        foreach (var c in completions)
        {
            id.Value = Text(c.Lease.JobId);
            attempt.Value = c.Lease.Attempt;
            result.Value = (object?)c.Result ?? DBNull.Value;
            if (await update.ExecuteNonQueryAsync(ct) == 1) written[c.Lease.JobId] = c;
        }
        if (written.Count == 0) return [];
        var ids = Ids(written.Keys); // the written jobs, for the events and for the read
        await AppendEventsAsync(tx, CompletedEvents, Story.CompletedTemplate, ids, completions[0].Lease.WorkerId, ct);
        await using var read = tx.Command("""
            SELECT id, type, max_attempts, event_seq, started_at, callback_url IS NOT NULL FROM jobs WHERE id IN (SELECT value FROM json_each(@ids))
            """);
        Bind(read, "ids", ids);
        return await tx.RowsAsync(read, r => JobRow.Completed(written[r.GetGuid(0)].Lease, r.GetString(1), r.GetInt32(2), r.GetInt64(3), JobRow.Utc(r, 4), r.GetBoolean(5), tx.Now), ct);
    }

    /// <summary>One prepared UPDATE per job in the caller's transaction, then one SELECT of the rows written, as the completion does.</summary>
    public async Task<IReadOnlyList<JobRow>> WriteRunningAsync(TransitionTx tx, IReadOnlyList<RunningWrite> writes, CancellationToken ct)
    {
        await using var update = tx.Command("""
            UPDATE jobs SET
                progress = CASE WHEN @progress IS NULL OR progress > @progress THEN progress ELSE @progress END,
                message = COALESCE(@message, message),
                prompt_tokens = CASE WHEN @prompt IS NULL THEN prompt_tokens ELSE COALESCE(prompt_tokens, 0) + @prompt END,
                completion_tokens = CASE WHEN @prompt IS NULL THEN completion_tokens ELSE COALESCE(completion_tokens, 0) + @completion END,
                total_tokens = CASE WHEN @prompt IS NULL THEN total_tokens ELSE COALESCE(total_tokens, 0) + @prompt + @completion END,
                cost_usd = CASE WHEN @prompt IS NULL THEN cost_usd ELSE COALESCE(cost_usd, 0) + @cost END,
                usage_detail = COALESCE(@detail, usage_detail),
                checkpoint = COALESCE(@checkpoint, checkpoint),
                updated_at = CASE WHEN @progress IS NULL AND @prompt IS NULL THEN updated_at ELSE @now END,
                event_seq = event_seq + @events
            WHERE id = @id AND attempt = @attempt AND locked_by = @worker AND status = 'running'
            """);
        Bind(update, "now", tx.Now);
        Bind(update, "worker", writes[0].Lease.WorkerId);
        var (id, attempt, progress, message, events) = (Add(update, "id"), Add(update, "attempt"), Add(update, "progress"), Add(update, "message"), Add(update, "events"));
        var (prompt, completion, cost, detail) = (Add(update, "prompt"), Add(update, "completion"), Add(update, "cost"), Add(update, "detail"));
        var checkpoint = Add(update, "checkpoint");
        await update.PrepareAsync(ct);
        var written = new List<Guid>(writes.Count);
        foreach (var w in writes)
        {
            (id.Value, attempt.Value, events.Value) = (Text(w.Lease.JobId), w.Lease.Attempt, w.Events);
            progress.Value = (object?)w.Progress?.Value ?? DBNull.Value;
            message.Value = (object?)w.Progress?.Message ?? DBNull.Value;
            prompt.Value = (object?)w.Usage?.Call.PromptTokens ?? DBNull.Value;
            completion.Value = (object?)w.Usage?.Call.CompletionTokens ?? DBNull.Value;
            cost.Value = (object?)w.Usage?.Call.CostUsd ?? DBNull.Value;
            detail.Value = (object?)w.Usage?.Detail ?? DBNull.Value;
            checkpoint.Value = (object?)w.Keep ?? DBNull.Value;
            if (await update.ExecuteNonQueryAsync(ct) == 1) written.Add(w.Lease.JobId);
        }
        if (written.Count == 0) return [];
        await using var read = tx.Command($"SELECT {JobRow.Columns} FROM jobs WHERE id IN (SELECT value FROM json_each(@ids))");
        Bind(read, "ids", Ids(written));
        return await tx.RowsAsync(read, JobRow.Read, ct);
    }

    /// <summary>One writer at a time: no row is ever busy, so nothing is skipped.</summary>
    public async Task<IReadOnlyList<HeldJob>> RenewLeasesAsync(TransitionTx tx, string workerId, IReadOnlyCollection<Guid> ids, DateTime until, CancellationToken ct,
        bool skipBusy = false)
    {
        await using var command = tx.Command("""
            UPDATE jobs SET locked_until = @until
            WHERE id IN (SELECT value FROM json_each(@ids)) AND locked_by = @worker AND status = 'running'
            RETURNING id, attempt, cancel_requested
            """);
        Bind(command, "until", until);
        Bind(command, "ids", JsonSerializer.Serialize(ids.Select(Text)));
        Bind(command, "worker", workerId);
        return await tx.RowsAsync(command, r => new HeldJob(r.GetGuid(0), r.GetInt32(1), r.GetBoolean(2)), ct);
    }

    /// <summary>
    /// One statement for the batch, as for events: the jobs travel as one JSON array that json_each
    /// unpacks. Their created events are worded from the stored rows (run_at from EF Core's text,
    /// whose trimmed fraction is already the event JSON's).
    /// </summary>
    public async Task<bool> InsertJobsAsync(TransitionTx tx, IReadOnlyList<Job> jobs, string source, CancellationToken ct)
    {
        await using var insert = tx.Command("""
            INSERT INTO jobs (id, tenant_id, type, status, progress, message, payload, priority, attempt, max_attempts, run_at,
                cancel_requested, callback_url, callback_events, created_at, updated_at, idempotency_key, request_hash,
                trace_parent, rescue_count, event_seq)
            SELECT value ->> 0, value ->> 1, value ->> 2, value ->> 3, 0, value ->> 4, value ->> 5, value ->> 6, 0, value ->> 7,
                value ->> 8, 0, value ->> 9, value ->> 10, value ->> 11, value ->> 12, value ->> 13, value ->> 14,
                value ->> 15, 0, value ->> 16
            FROM json_each(@jobs)
            """);
        Bind(insert, "jobs", JobsJson(jobs));
        try
        {
            await insert.ExecuteNonQueryAsync(ct);
        }
        catch (SqliteException e) when (e.SqliteExtendedErrorCode is 2067 or 1555) // SQLITE_CONSTRAINT_UNIQUE, _PRIMARYKEY
        {
            throw new DuplicateJobException(e);
        }
        await AppendEventsAsync(tx, CreatedEvents, Story.CreatedTemplate, Ids(jobs.Select(j => j.Id)), source, ct);
        return false; // one process: its notifier tells its workers after the commit
    }

    /// <summary>The created events (<see cref="Story.CreatedTemplate"/>), from the stored rows; @by is who created them.</summary>
    const string CreatedEvents = """
        INSERT INTO job_events (job_id, seq, kind, level, message, data, created_at)
        SELECT id, event_seq, @event_kind, @event_level, format(@event_line, @by),
            json_object('status', 'pending', 'type', type, 'priority', priority, 'run_at', replace(run_at, ' ', 'T') || 'Z',
                'max_attempts', max_attempts, 'message', message), @now
        FROM jobs WHERE id IN (SELECT value FROM json_each(@ids))
        """;

    /// <summary>One array per job, in InsertJobsAsync's column order, with ids and times in EF Core's text formats.</summary>
    static string JobsJson(IReadOnlyList<Job> jobs)
    {
        var buffer = new System.Buffers.ArrayBufferWriter<byte>(jobs.Count * 512);
        using (var json = new Utf8JsonWriter(buffer))
        {
            json.WriteStartArray();
            foreach (var j in jobs)
            {
                json.WriteStartArray();
                json.WriteStringValue(Text(j.Id));
                json.WriteStringValue(j.TenantId);
                json.WriteStringValue(j.Type);
                json.WriteStringValue(j.Status.ToName());
                json.WriteStringValue(j.Message);
                json.WriteStringValue(j.Payload);
                json.WriteNumberValue(j.Priority);
                json.WriteNumberValue(j.MaxAttempts);
                json.WriteStringValue(Text(j.RunAt));
                json.WriteStringValue(j.CallbackUrl);
                json.WriteStringValue(j.CallbackEvents);
                json.WriteStringValue(Text(j.CreatedAt));
                json.WriteStringValue(Text(j.UpdatedAt));
                json.WriteStringValue(j.IdempotencyKey);
                json.WriteStringValue(j.RequestHash);
                json.WriteStringValue(j.TraceParent);
                json.WriteNumberValue(j.EventSeq);
                json.WriteEndArray();
            }
            json.WriteEndArray();
        }
        return System.Text.Encoding.UTF8.GetString(buffer.WrittenSpan);
    }

    /// <summary>
    /// One statement for the batch: the events travel as one JSON array and SQLite's json_each
    /// unpacks them (binding seven parameters per row, row by row, cost more than the rows).
    /// </summary>
    public async Task InsertEventsAsync(TransitionTx tx, IReadOnlyList<JobEvent> events, CancellationToken ct)
    {
        if (events.Count == 0) return;
        await using var insert = tx.Command("""
            INSERT INTO job_events (job_id, seq, kind, level, message, data, created_at)
            SELECT value ->> 0, value ->> 1, value ->> 2, value ->> 3, value ->> 4, value ->> 5, value ->> 6
            FROM json_each(@events)
            """);
        Bind(insert, "events", EventsJson(events));
        await insert.ExecuteNonQueryAsync(ct);
    }

    /// <summary>[[job_id, seq, kind, level, message, data, created_at], …] with ids and times in EF Core's text formats.</summary>
    static string EventsJson(IReadOnlyList<JobEvent> events)
    {
        var buffer = new System.Buffers.ArrayBufferWriter<byte>(events.Count * 256);
        using (var json = new Utf8JsonWriter(buffer))
        {
            json.WriteStartArray();
            foreach (var e in events)
            {
                json.WriteStartArray();
                json.WriteStringValue(Text(e.JobId));
                json.WriteNumberValue(e.Seq);
                json.WriteStringValue(e.Kind);
                json.WriteStringValue(e.Level);
                json.WriteStringValue(e.Message);
                json.WriteStringValue(e.Data);
                json.WriteStringValue(Text(e.CreatedAt));
                json.WriteEndArray();
            }
            json.WriteEndArray();
        }
        return System.Text.Encoding.UTF8.GetString(buffer.WrittenSpan);
    }

    public Task LockTenantAsync(TransitionTx tx, string tenant, CancellationToken ct) => Task.CompletedTask; // one writer: BeginWriteAsync

    public void Bind(DbCommand command, string name, object? value) => Add(command, name).Value = value switch
    {
        null => DBNull.Value,
        Guid g => Text(g),
        DateTime t => Text(t),
        _ => value,
    };


    public string IdIn(string parameter, string column = "id") => $"{column} IN (SELECT value FROM json_each(@{parameter}))";

    public string ListedIn(string parameter, string states, bool delete = false) => $"WHERE {IdIn(parameter)} AND status IN ({states})";

    public object Ids(IEnumerable<Guid> ids) => JsonSerializer.Serialize(ids.Select(Text));

    static SqliteParameter Add(DbCommand command, string name) => ((SqliteCommand)command).Parameters.Add(new SqliteParameter { ParameterName = name });

    // The text formats EF Core writes: a Guid in upper case, a time as 'yyyy-MM-dd HH:mm:ss.FFFFFFF'.
    static string Text(Guid id) => id.ToString().ToUpperInvariant();
    static string Text(DateTime t) => t.ToString("yyyy-MM-dd HH:mm:ss.FFFFFFF", CultureInfo.InvariantCulture);
}
