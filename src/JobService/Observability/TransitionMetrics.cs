using System.Diagnostics;
using System.Text.Json;
using JobService.Data;
using JobService.Hosting;
using JobService.Transitions;

namespace JobService.Observability;

/// <summary>
/// The job outcome metrics, hung from the transition seam: every change to a job passes here once,
/// on whichever node made it (an API's create or cancel, a worker's claim or completion, another
/// node's rescue), and is counted only after its transaction committed, so a rolled-back change is
/// never counted. Tokens and cost come from the committed usage events, so they equal the jobs' usage.
/// </summary>
public sealed class TransitionMetrics(JobServiceMetrics metrics, ModelLabels models, ILogger<TransitionMetrics> log) : IJobTransitionHook
{
    /// <summary>A change worth counting, classified inside the transition (the runner's timeout mark is visible only there).</summary>
    readonly record struct Counted(JobRow Row, JobEvent Event, bool Claim, string? Attempt);

    public bool MayWriteWithoutCallback => false; // it writes nothing: counts go in after the commit

    public Task OnAppliedAsync(TransitionTx tx, IReadOnlyList<AppliedChange> changes, CancellationToken ct)
    {
        if (!metrics.JobOutcomesObserved) return Task.CompletedTask; // no exporter: no work on the hot path
        List<Counted>? counted = null;
        foreach (var change in changes)
        {
            if (change.Event is not { } e) continue; // a delete
            var claim = AttemptOutcomes.IsClaim(change);
            var attempt = AttemptOutcomes.Of(change);
            if (claim || attempt is not null || e.Kind is JobEventKinds.Created or JobEventKinds.Usage || JobEventKinds.IsTerminal(e.Kind))
                (counted ??= new(changes.Count)).Add(new Counted(change.Row, e, claim, attempt));
        }
        if (counted is not null) tx.AfterCommit(() => Record(counted, tx.Now));
        return Task.CompletedTask;
    }

    void Record(List<Counted> counted, DateTime now)
    {
        try
        {
            foreach (var c in counted) Record(c, now);
        }
        catch (Exception e)
        {
            // After the commit: a metric must never make a committed transition look failed.
            log.LogWarning(e, "Recording job metrics failed");
        }
    }

    void Record(Counted c, DateTime now)
    {
        var row = c.Row;
        var type = new KeyValuePair<string, object?>("type", row.Type);
        if (c.Event.Kind == JobEventKinds.Created) metrics.JobsCreated.Add(1, type);
        if (c.Claim && row.StartedAt is { } started)
            metrics.QueueWait.Record(Seconds(started - Later(row.RunAt, JobIds.CreatedAt(row.Id))), type);
        if (c.Attempt is not null)
        {
            var status = new KeyValuePair<string, object?>("status", row.Status.ToName());
            metrics.JobAttempts.Add(1, type, new("outcome", c.Attempt));
            if (row.StartedAt is { } began) metrics.RunDuration.Record(Seconds((row.CompletedAt ?? now) - began), type, status);
        }
        if (JobEventKinds.IsTerminal(c.Event.Kind))
        {
            var status = new KeyValuePair<string, object?>("status", row.Status.ToName());
            metrics.JobsFinished.Add(1, type, status);
            if (JobIds.CreatedAt(row.Id) is { } created) metrics.EndToEnd.Record(Seconds((row.CompletedAt ?? now) - created), type, status);
        }
        if (c.Event.Kind == JobEventKinds.Usage && c.Event.Data is { } data) RecordUsage(row.Type, data);
    }

    /// <summary>A model call's usage as the job recorded it (Story.Usage's data).</summary>
    void RecordUsage(string type, string data)
    {
        using var json = JsonDocument.Parse(data);
        var u = json.RootElement;
        var model = models.For(u.TryGetProperty("model", out var m) && m.ValueKind == JsonValueKind.String ? m.GetString() : null);
        var tags = new TagList { { "type", type }, { "model", model } };
        var input = tags;
        input.Add("token_type", "input");
        var output = tags;
        output.Add("token_type", "output");
        metrics.LlmTokens.Add(Number(u, "prompt_tokens"), input);
        metrics.LlmTokens.Add(Number(u, "completion_tokens"), output);
        metrics.LlmCost.Add(u.TryGetProperty("cost_usd", out var cost) && cost.ValueKind == JsonValueKind.Number ? cost.GetDouble() : 0, tags);
        if (u.TryGetProperty("time_to_first_token_ms", out var ttft) && ttft.ValueKind == JsonValueKind.Number)
            metrics.LlmFirstToken.Record(ttft.GetDouble() / 1000, tags);
    }

    static long Number(JsonElement e, string name) => e.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.Number ? v.GetInt64() : 0;

    static DateTime Later(DateTime runAt, DateTime? created) => created > runAt ? created.Value : runAt;

    /// <summary>Never negative: the id's time has millisecond precision, and clocks of different nodes drift a little.</summary>
    static double Seconds(TimeSpan t) => Math.Max(0, t.TotalSeconds);
}
