using System.Buffers;
using System.Globalization;
using System.Text;
using System.Text.Json;
using JobService.Data;
using JobService.Handlers;

namespace JobService.Transitions;

/// <summary>
/// The events each transition appends, worded in one place: their JSON data (what the stream
/// sends) and the log line that tells the job's story, so that every job says what happened
/// to it without its handler writing a word.
/// </summary>
public static class Story
{
    /// <summary>
    /// The created event as the insert's SQL appends it itself (both providers), from the stored
    /// rows: kind, level, and line as a <c>format()</c> template (<c>%s</c>: who created it). A test
    /// holds what it stores to the wording and data it should have (the tests' <c>StoredEventWording</c>);
    /// the hooks see <see cref="StoredBySql"/>.
    /// </summary>
    public static (string Kind, string Level, string Line) CreatedTemplate => (JobEventKinds.Created, "info", "Created by %s");

    /// <summary>
    /// The claim's event as the claim's SQL appends it itself (PostgreSQL's and SQLite's), with no
    /// JSON built here: its kind, level, and line as a <c>format()</c> template (<c>%s</c>: worker, attempt,
    /// attempts). A test holds what it stores to the wording and data it should have.
    /// </summary>
    public static (string Kind, string Level, string Line) ClaimedTemplate => (JobEventKinds.Status, "info", ClaimedBy + "%s for attempt %s of %s");

    /// <summary>How a claimed event's line starts: where a run's events begin (an attempt's number is not a run's: a hand-back gives it back, a manual retry starts again at 1).</summary>
    public const string ClaimedBy = "Claimed by worker ";

    public static JobEvent Progress(JobRow r, DateTime now, (int Received, int Expected)? tokens) =>
        Event(r, JobEventKinds.Progress, now, null, null, Fields(("progress", r.Progress), ("message", r.Message),
            ("tokens", tokens is { } t ? new Nested(Fields(("received", t.Received), ("expected", t.Expected))) : null)));

    /// <summary>A log line; with the ids of the span that wrote it (<see cref="RecordedSpan"/>), so the line leads to its trace.</summary>
    public static JobEvent Log(JobRow r, DateTime now, string level, string message, System.Diagnostics.ActivityContext? span) =>
        Event(r, JobEventKinds.Log, now, level, message, span is { } s
            ? Fields(("attempt", r.Attempt), ("trace_id", s.TraceId.ToHexString()), ("span_id", s.SpanId.ToHexString()))
            : Fields(("attempt", r.Attempt)));

    /// <summary>The current span, when tracing records it: taken where a line is written, not where it is stored (a batch).</summary>
    public static System.Diagnostics.ActivityContext? RecordedSpan() =>
        System.Diagnostics.Activity.Current is { IdFormat: System.Diagnostics.ActivityIdFormat.W3C, Recorded: true } span ? span.Context : null;

    public static JobEvent Output(JobRow r, DateTime now, int offset, string text) =>
        Event(r, JobEventKinds.Output, now, null, null, Fields(("attempt", r.Attempt), ("offset", offset), ("text", text)));

    public static JobEvent Usage(JobRow r, DateTime now, UsageRecord u)
    {
        // A handler's own count (RecordUsageAsync(prompt, completion, cost)) names no model or call: it is not one that "did not finish".
        var told = u is { Model: null, Provider: null, FinishReason: null, DurationMs: null };
        var line = told ? $"Usage recorded{(u.Step is null ? "" : $" ({u.Step})")}: {u.PromptTokens} prompt + {u.CompletionTokens} completion tokens, " +
                          $"${u.CostUsd.ToString("0.######", CultureInfo.InvariantCulture)}" : $"Model call{(u.Step is null ? "" : $" ({u.Step})")}: {u.Model ?? "?"} via {u.Provider ?? "?"}, " +
                   $"{u.PromptTokens} prompt + {u.CompletionTokens} completion tokens{(u.Estimated ? " (estimated)" : "")}" +
                   (u.TimeToFirstTokenMs is { } ttft ? $", first token after {Seconds(ttft)}" : "") +
                   (u.DurationMs is { } d ? $", {Seconds(d)} in all" : "") +
                   $", ${u.CostUsd.ToString("0.######", CultureInfo.InvariantCulture)}, finish " +
                   u.FinishReason switch { null => "none: the call did not finish", "length" => "length: cut off by max_tokens", var f => f };
        return Event(r, JobEventKinds.Usage, now, !told && u.FinishReason is "length" or null ? "warning" : "info", line, Fields(
            ("attempt", r.Attempt), ("model", u.Model), ("provider", u.Provider), ("step", u.Step), ("prompt_tokens", u.PromptTokens),
            ("completion_tokens", u.CompletionTokens), ("total_tokens", u.TotalTokens), ("cost_usd", u.CostUsd), ("estimated", u.Estimated),
            ("finish_reason", u.FinishReason), ("duration_ms", u.DurationMs), ("time_to_first_token_ms", u.TimeToFirstTokenMs)));
    }

    /// <summary>
    /// The completion's event as the completion's SQL appends it itself (both providers): kind, level,
    /// and line as a <c>format()</c> template (<c>%s</c>: how long it ran, worded as
    /// <see cref="Seconds"/> words it; attempt; attempts). A test holds what it stores to the wording and data it should have.
    /// </summary>
    public static (string Kind, string Level, string Line) CompletedTemplate =>
        (JobEventKinds.Completed, "info", "Completed in %s (attempt %s of %s)");

    /// <summary>A failed or cancelled end of a running attempt, as the runner worded it.</summary>
    public static JobEvent Finished(JobRow r, DateTime now, string line) =>
        Terminal(r, now, r.Status == JobStatus.Failed ? "error" : "info", $"{line} ({Seconds(Elapsed(r, now))} after it started)");

    /// <summary>A retry scheduled after a failed attempt, unless a cancel asked for meanwhile won.</summary>
    public static JobEvent RetryScheduled(JobRow r, DateTime now, string error) => r.Status == JobStatus.Cancelled
        ? Terminal(r, now, "info", $"Attempt {r.Attempt} of {r.MaxAttempts} failed ({error}); a cancel was asked for, so it ends cancelled")
        : Event(r, JobEventKinds.Status, now, "warning",
            $"Attempt {r.Attempt} of {r.MaxAttempts} failed: {error.TrimEnd('.')}. Retrying in {Seconds((r.RunAt - now).TotalMilliseconds)}",
            Fields(("status", "pending"), ("attempt", r.Attempt), ("max_attempts", r.MaxAttempts), ("run_at", r.RunAt), ("error", error)));

    public static JobEvent HandedBack(JobRow r, DateTime now, string worker, HandBack why) => r.Status == JobStatus.Cancelled
        ? Terminal(r, now, "info", why == HandBack.Unavailable
            ? $"A service the job needs was unavailable on worker {worker}; a cancel was asked for, so it ends cancelled"
            : $"Worker {worker} stopped before the handler finished; a cancel was asked for, so it ends cancelled")
        : why == HandBack.Unavailable
            ? Event(r, JobEventKinds.Status, now, "warning",
                $"{HandedBackBy} {worker}: {r.Message?[JobTransitions.WaitingForAService.Length..].TrimEnd('.')}. It runs again in {Seconds((r.RunAt - now).TotalMilliseconds)}; the attempt is not counted",
                Fields(("status", "pending"), ("attempt", r.Attempt), ("max_attempts", r.MaxAttempts), ("run_at", r.RunAt), ("message", r.Message)))
            : Event(r, JobEventKinds.Status, now, "info", why == HandBack.SlotsBusy
                    ? $"{HandedBackBy} {worker}, which claimed it ahead of a free slot and found none soon; the attempt is not counted"
                    : $"{HandedBackBy} {worker}, which was shutting down; the attempt is not counted",
                Fields(("status", "pending"), ("attempt", r.Attempt), ("max_attempts", r.MaxAttempts), ("run_at", r.RunAt)));

    const string HandedBackBy = "Handed back by worker";

    /// <summary>A job that waited for a service is due now: the service answers again (<see cref="JobTransitions.ReleaseWaitingAsync"/>).</summary>
    public static JobEvent DueAgain(JobRow r, DateTime now) => Event(r, JobEventKinds.Status, now, "info", "The service it waited for answers again: due now",
        Fields(("status", "pending"), ("attempt", r.Attempt), ("max_attempts", r.MaxAttempts), ("run_at", r.RunAt), ("message", r.Message)));

    public static JobEvent Rescued(JobRow r, DateTime now, string why) => r.Status == JobStatus.Pending
        ? Event(r, JobEventKinds.Status, now, "warning", $"{why} It keeps its place in the queue.",
            Fields(("status", "pending"), ("attempt", r.Attempt), ("max_attempts", r.MaxAttempts), ("run_at", r.RunAt), ("error", r.Error)))
        : Terminal(r, now, r.Status == JobStatus.Failed ? "error" : "info", why);

    public static JobEvent CancelledPending(JobRow r, DateTime now) => Terminal(r, now, "info", r.Message ?? JobTransitions.CancelledBeforeStart);

    public static JobEvent CancelRequested(JobRow r, DateTime now) =>
        Event(r, JobEventKinds.Status, now, "info", $"Cancel requested: the handler of attempt {r.Attempt} is being stopped",
            Fields(("status", "running"), ("attempt", r.Attempt), ("max_attempts", r.MaxAttempts), ("cancel_requested", true)));

    public static JobEvent Requeued(JobRow r, DateTime now, string source) =>
        Event(r, JobEventKinds.Status, now, "info", $"Queued again by {source}, with {r.MaxAttempts} attempt(s)",
            Fields(("status", "pending"), ("attempt", 0), ("max_attempts", r.MaxAttempts), ("run_at", r.RunAt)));

    internal static JobEvent Terminal(JobRow r, DateTime now, string level, string line) =>
        Event(r, JobEventKinds.Terminal(r.Status), now, level, line, Fields(("status", r.Status.ToName()), ("attempt", r.Attempt),
            ("max_attempts", r.MaxAttempts), ("progress", r.Progress), ("message", r.Message), ("error", r.Error)));

    /// <summary>
    /// An event its statement's SQL stored itself, from <paramref name="template"/> (the created,
    /// claimed and completed ones), as the transition's hooks and notices see it: its kind and
    /// level, without the line and data, which nothing after the statement reads (the hooks look
    /// at the kind and level, a notice at the seq). Worded again here for every job, they were a
    /// sixth of a drain's allocations (docs/benchmarks.md, thirty-ninth session).
    /// </summary>
    public static JobEvent StoredBySql(JobRow r, (string Kind, string Level, string Line) template, DateTime now) =>
        Event(r, template.Kind, now, template.Level, message: null, data: null);

    internal static JobEvent Event(JobRow r, string kind, DateTime now, string? level, string? message, string? data) => new()
    {
        JobId = r.Id, Seq = r.EventSeq, Kind = kind, Level = level, Message = message?.Clip(10_000), CreatedAt = now, Data = data,
    };

    /// <summary>
    /// A JSON object from name/value pairs, written directly: events are made for every job on the
    /// hot path, where serializing anonymous types costs reflection and allocations.
    /// </summary>
    internal static string Fields(params (string Name, object? Value)[] fields)
    {
        // One buffer and writer per thread, reset for each object: an event's data is built for every
        // job at a claim and an end, and a new writer each time was a fifth of a drain's allocations.
        var buffer = t_buffer ??= new ArrayBufferWriter<byte>(256);
        var json = t_json ??= new Utf8JsonWriter(buffer, new JsonWriterOptions { Encoder = JobJson.Options.Encoder });
        buffer.ResetWrittenCount();
        json.Reset(buffer);
        json.WriteStartObject();
        foreach (var (name, value) in fields)
        {
            json.WritePropertyName(name);
            switch (value)
            {
                case null: json.WriteNullValue(); break;
                case Nested n: json.WriteRawValue(n.Json); break;
                case string t: json.WriteStringValue(t); break;
                case int i: json.WriteNumberValue(i); break;
                case long l: json.WriteNumberValue(l); break;
                case double d: json.WriteNumberValue(d); break;
                case bool b: json.WriteBooleanValue(b); break;
                case DateTime t: json.WriteStringValue(DateTime.SpecifyKind(t, DateTimeKind.Utc)); break;
                default: throw new ArgumentException($"Field {name}: {value.GetType().Name} is not a JSON scalar here.");
            }
        }
        json.WriteEndObject();
        json.Flush();
        var text = Encoding.UTF8.GetString(buffer.WrittenSpan);
        if (buffer.Capacity > 64 * 1024) t_buffer = null; // a long message's buffer is not kept for ever
        t_json = t_buffer is null ? null : json;
        return text;
    }

    [ThreadStatic] static ArrayBufferWriter<byte>? t_buffer;
    [ThreadStatic] static Utf8JsonWriter? t_json;

    /// <summary>An object made by <see cref="Fields"/>, nested in another.</summary>
    readonly record struct Nested(string Json);

    internal static double Elapsed(JobRow r, DateTime now) => r.StartedAt is { } started ? (now - started).TotalMilliseconds : 0;

    internal static string Seconds(double ms) => ms < 1000
        ? $"{ms.ToString("0", CultureInfo.InvariantCulture)} ms"
        : $"{(ms / 1000).ToString("0.#", CultureInfo.InvariantCulture)} s";
}
