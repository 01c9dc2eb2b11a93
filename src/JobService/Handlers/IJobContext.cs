using System.Text.Json;
using System.Text.Json.Nodes;

namespace JobService.Handlers;

/// <summary>
/// What a running job sees of the service. Every write it makes is fenced on the worker's
/// lease for this attempt: once the lease is lost, writes change nothing and
/// <see cref="CancellationToken"/> fires.
/// </summary>
public interface IJobContext
{
    Guid JobId { get; }
    string Type { get; }
    /// <summary>1 on the first attempt.</summary>
    int Attempt { get; }
    int MaxAttempts { get; }
    /// <summary>The payload as submitted.</summary>
    JsonElement Payload { get; }

    /// <summary>
    /// Fires when the job is cancelled, times out, loses its lease, or the worker shuts down.
    /// Pass it to every awaited call.
    /// </summary>
    CancellationToken CancellationToken { get; }

    /// <summary>
    /// Reports progress on the 0–100 scale (never 0–1) and an optional status line. A lower
    /// value than already reported is ignored, values are capped at 99 (100 means completed),
    /// and writes are coalesced, so calling this on every token is fine.
    /// </summary>
    ValueTask ReportProgressAsync(double percent, string? message = null);

    /// <summary>Writes a line to the job's log (<c>GET /jobs/{id}/logs</c>).</summary>
    ValueTask LogAsync(JobLogLevel level, string message);

    /// <summary>Adds LLM token usage and cost to the job's totals.</summary>
    ValueTask RecordUsageAsync(int promptTokens, int completionTokens, double costUsd) =>
        RecordUsageAsync(new UsageRecord(promptTokens, completionTokens, costUsd));

    /// <summary>Records one model call: its tokens and cost are added to the job's totals, and the call is told in the job's log.</summary>
    ValueTask RecordUsageAsync(UsageRecord usage);

    /// <summary>
    /// LLM work: the model's text as it streams, shown live to watchers of the job (output events),
    /// never written per token. <paramref name="newCall"/> starts a new text (the next step, a repair).
    /// </summary>
    void StreamText(string piece, bool newCall = false) { }

    /// <summary>LLM work: tokens received against tokens expected, sent with the next progress event.</summary>
    void ReportTokens(int received, int expected) { }

    /// <summary>
    /// Keeps <paramref name="state"/> for the job's later attempts (a retry after a failure, a run
    /// after its worker died), with <paramref name="line"/> in its log, in one write made before it
    /// returns: work done, such as a pipeline's finished steps, that a retry need not do again
    /// (<see cref="KeptAsync"/>). It replaces what was kept before. A retry by hand
    /// (<c>POST /jobs/{id}/retry</c>) starts without it.
    /// </summary>
    ValueTask KeepAsync(JsonNode state, string line);

    /// <summary>What an earlier attempt kept (<see cref="KeepAsync"/>), or null.</summary>
    ValueTask<JsonNode?> KeptAsync();
}

public enum JobLogLevel
{
    Info,
    Warning,
    Error,
}
