using System.Globalization;
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
    /// compares it with <see cref="Created"/>, which the transition's hooks see.
    /// </summary>
    public static (string Kind, string Level, string Line) CreatedTemplate => (JobEventKinds.Created, "info", "Created by %s");

    public static JobEvent Created(JobRow r, string source, int priority, DateTime now)
    {
        var (kind, level, line) = CreatedTemplate;
        return Event(r, kind, now, level, Fill(line, source),
            Fields(("status", "pending"), ("type", r.Type), ("priority", priority), ("run_at", r.RunAt), ("max_attempts", r.MaxAttempts)));
    }

    /// <summary>
    /// The claim's event as the claim's SQL appends it itself (PostgreSQL's and SQLite's), with no
    /// JSON built here: its kind, level, and line as a <c>format()</c> template (<c>%s</c>: worker, attempt,
    /// attempts). The statement builds the same data as <see cref="Claimed"/>; a test compares them.
    /// </summary>
    public static (string Kind, string Level, string Line) ClaimedTemplate => (JobEventKinds.Status, "info", "Claimed by worker %s for attempt %s of %s");

    public static JobEvent Claimed(JobRow r, string worker, DateTime now)
    {
        var (kind, level, line) = ClaimedTemplate;
        return Event(r, kind, now, level, Fill(line, worker, r.Attempt, r.MaxAttempts),
            Fields(("status", "running"), ("attempt", r.Attempt), ("max_attempts", r.MaxAttempts), ("worker", worker)));
    }

    public static JobEvent Progress(JobRow r, DateTime now, (int Received, int Expected)? tokens) =>
        Event(r, JobEventKinds.Progress, now, null, null, Fields(("progress", r.Progress), ("message", r.Message),
            ("tokens", tokens is { } t ? new Nested(Fields(("received", t.Received), ("expected", t.Expected))) : null)));

    /// <summary>A log line; with the current span's ids when one is recorded (tracing on), so the line leads to its trace.</summary>
    public static JobEvent Log(JobRow r, DateTime now, string level, string message) =>
        Event(r, JobEventKinds.Log, now, level, message, System.Diagnostics.Activity.Current is { IdFormat: System.Diagnostics.ActivityIdFormat.W3C, Recorded: true } span
            ? Fields(("attempt", r.Attempt), ("trace_id", span.TraceId.ToHexString()), ("span_id", span.SpanId.ToHexString()))
            : Fields(("attempt", r.Attempt)));

    public static JobEvent Output(JobRow r, DateTime now, int offset, string text) =>
        Event(r, JobEventKinds.Output, now, null, null, Fields(("attempt", r.Attempt), ("offset", offset), ("text", text)));

    public static JobEvent Usage(JobRow r, DateTime now, UsageRecord u)
    {
        var line = $"Model call{(u.Step is null ? "" : $" ({u.Step})")}: {u.Model ?? "?"} via {u.Provider ?? "?"}, " +
                   $"{u.PromptTokens} prompt + {u.CompletionTokens} completion tokens{(u.Estimated ? " (estimated)" : "")}" +
                   (u.TimeToFirstTokenMs is { } ttft ? $", first token after {Seconds(ttft)}" : "") +
                   (u.DurationMs is { } d ? $", {Seconds(d)} in all" : "") +
                   $", ${u.CostUsd.ToString("0.######", CultureInfo.InvariantCulture)}, finish " +
                   u.FinishReason switch { null => "none: the call did not finish", "length" => "length: cut off by max_tokens", var f => f };
        return Event(r, JobEventKinds.Usage, now, u.FinishReason == "length" || u.FinishReason is null ? "warning" : "info", line, Fields(
            ("attempt", r.Attempt), ("model", u.Model), ("provider", u.Provider), ("step", u.Step), ("prompt_tokens", u.PromptTokens),
            ("completion_tokens", u.CompletionTokens), ("total_tokens", u.TotalTokens), ("cost_usd", u.CostUsd), ("estimated", u.Estimated),
            ("finish_reason", u.FinishReason), ("duration_ms", u.DurationMs), ("time_to_first_token_ms", u.TimeToFirstTokenMs)));
    }

    /// <summary>
    /// The completion's event as the completion's SQL appends it itself (both providers): kind, level,
    /// and line as a <c>format()</c> template (<c>%s</c>: how long it ran, worded as
    /// <see cref="Seconds"/> words it; attempt; attempts). A test compares it with <see cref="Completed"/>.
    /// </summary>
    public static (string Kind, string Level, string Line) CompletedTemplate =>
        (JobEventKinds.Completed, "info", "Completed in %s (attempt %s of %s)");

    public static JobEvent Completed(JobRow r, DateTime now)
    {
        var (_, level, line) = CompletedTemplate;
        return Terminal(r, now, level, Fill(line, Seconds(Elapsed(r, now)), r.Attempt, r.MaxAttempts));
    }

    /// <summary>A failed or cancelled end of a running attempt, as the runner worded it.</summary>
    public static JobEvent Finished(JobRow r, DateTime now, string line) =>
        Terminal(r, now, r.Status == JobStatus.Failed ? "error" : "info", $"{line} ({Seconds(Elapsed(r, now))} after it started)");

    /// <summary>A retry scheduled after a failed attempt, unless a cancel asked for meanwhile won.</summary>
    public static JobEvent RetryScheduled(JobRow r, DateTime now, string error) => r.Status == JobStatus.Cancelled
        ? Terminal(r, now, "info", $"Attempt {r.Attempt} of {r.MaxAttempts} failed ({error}); a cancel was asked for, so it ends cancelled")
        : Event(r, JobEventKinds.Status, now, "warning",
            $"Attempt {r.Attempt} of {r.MaxAttempts} failed: {error}. Retrying in {Seconds((r.RunAt - now).TotalMilliseconds)}",
            Fields(("status", "pending"), ("attempt", r.Attempt), ("max_attempts", r.MaxAttempts), ("run_at", r.RunAt), ("error", error)));

    public static JobEvent HandedBack(JobRow r, DateTime now, string worker, bool slotsBusy) => r.Status == JobStatus.Cancelled
        ? Terminal(r, now, "info", $"Worker {worker} stopped before the handler finished; a cancel was asked for, so it ends cancelled")
        : Event(r, JobEventKinds.Status, now, "info", slotsBusy
                ? $"Handed back by worker {worker}, which claimed it ahead of a free slot and found none soon; the attempt is not counted"
                : $"Handed back by worker {worker}, which was shutting down; the attempt is not counted",
            Fields(("status", "pending"), ("attempt", r.Attempt), ("max_attempts", r.MaxAttempts), ("run_at", r.RunAt)));

    public static JobEvent Rescued(JobRow r, DateTime now, string why) => r.Status == JobStatus.Pending
        ? Event(r, JobEventKinds.Status, now, "warning", $"{why} It keeps its place in the queue.",
            Fields(("status", "pending"), ("attempt", r.Attempt), ("max_attempts", r.MaxAttempts), ("run_at", r.RunAt), ("error", r.Error)))
        : Terminal(r, now, r.Status == JobStatus.Failed ? "error" : "info", why);

    public static JobEvent CancelledPending(JobRow r, DateTime now) => Terminal(r, now, "info", "Cancelled before it started");

    public static JobEvent CancelRequested(JobRow r, DateTime now) =>
        Event(r, JobEventKinds.Status, now, "info", $"Cancel requested: the handler of attempt {r.Attempt} is being stopped",
            Fields(("status", "running"), ("attempt", r.Attempt), ("cancel_requested", true)));

    public static JobEvent Requeued(JobRow r, DateTime now, string source) =>
        Event(r, JobEventKinds.Status, now, "info", $"Queued again by {source}, with {r.MaxAttempts} attempt(s)",
            Fields(("status", "pending"), ("attempt", 0), ("max_attempts", r.MaxAttempts), ("run_at", r.RunAt)));

    static JobEvent Terminal(JobRow r, DateTime now, string level, string line) =>
        Event(r, JobEventKinds.Terminal(r.Status), now, level, line, Fields(("status", r.Status.ToName()), ("attempt", r.Attempt),
            ("max_attempts", r.MaxAttempts), ("progress", r.Progress), ("message", r.Message), ("error", r.Error)));

    static JobEvent Event(JobRow r, string kind, DateTime now, string? level, string? message, string data) => new()
    {
        JobId = r.Id, Seq = r.EventSeq, Kind = kind, Level = level, Message = message?.Clip(10_000), CreatedAt = now, Data = data,
    };

    /// <summary>
    /// A JSON object from name/value pairs, written directly: events are made for every job on the
    /// hot path, where serializing anonymous types costs reflection and allocations.
    /// </summary>
    static string Fields(params (string Name, object? Value)[] fields)
    {
        var buffer = new System.Buffers.ArrayBufferWriter<byte>(256);
        using (var json = new Utf8JsonWriter(buffer, new JsonWriterOptions { Encoder = JobJson.Options.Encoder }))
        {
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
        }
        return System.Text.Encoding.UTF8.GetString(buffer.WrittenSpan);
    }

    /// <summary>An object made by <see cref="Fields"/>, nested in another.</summary>
    readonly record struct Nested(string Json);

    /// <summary>A <c>format()</c> template's <c>%s</c> filled in order, as PostgreSQL fills it.</summary>
    static string Fill(string template, params object[] values)
    {
        var parts = template.Split("%s");
        var line = new System.Text.StringBuilder(parts[0]);
        for (var i = 1; i < parts.Length; i++) line.Append(CultureInfo.InvariantCulture, $"{values[i - 1]}").Append(parts[i]);
        return line.ToString();
    }

    static double Elapsed(JobRow r, DateTime now) => r.StartedAt is { } started ? (now - started).TotalMilliseconds : 0;

    static string Seconds(double ms) => ms < 1000
        ? $"{ms.ToString("0", CultureInfo.InvariantCulture)} ms"
        : $"{(ms / 1000).ToString("0.#", CultureInfo.InvariantCulture)} s";
}
