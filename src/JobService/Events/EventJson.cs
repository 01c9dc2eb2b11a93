using System.Text;
using System.Text.Json;
using JobService.Data;

namespace JobService.Events;

/// <summary>
/// An event as the streams send it: the stored data with <c>job_id</c>, <c>seq</c> and <c>at</c>
/// in front; a log line as <c>{job_id, seq, at, level, message, attempt, trace_id, span_id}</c>.
/// </summary>
public static class EventJson
{
    /// <summary>The stored data with job_id, seq and at in front (and the job's type and tenant, on the stream over all jobs).</summary>
    public static string Data(JobEvent e, string? type = null, string? tenant = null)
    {
        var head = $"{{\"job_id\":\"{e.JobId}\",\"seq\":{e.Seq},\"at\":{JsonSerializer.Serialize(e.CreatedAt, JobJson.Options)}" +
                   (type is null ? "" : $",\"job_type\":{JsonSerializer.Serialize(type)}") +
                   (tenant is null ? "" : $",\"tenant_id\":{JsonSerializer.Serialize(tenant)}");
        return Splice(head, e.Data);
    }

    /// <summary>
    /// The whole job as GET /jobs/{id} returns it, with job_id and seq in front: snapshots and
    /// terminal events. A snapshot of a running job also carries <c>output</c>: the model's text so
    /// far in this attempt, which later output events continue (their offsets count from it).
    /// </summary>
    public static string Job(Api.JobResponse job, long seq, string? output = null) =>
        Splice($"{{\"job_id\":\"{job.Id}\",\"seq\":{seq}" + (output is null ? "" : $",\"output\":{JsonSerializer.Serialize(output, JobJson.Options)}"),
            JsonSerializer.Serialize(job, JobJson.Options));

    /// <summary>The text the output events of one attempt add up to: each is applied as text[..offset] + its text.</summary>
    public static string? Output(IEnumerable<JobEvent> outputs, int attempt)
    {
        string? text = null;
        foreach (var e in outputs)
        {
            using var data = JsonDocument.Parse(e.Data!);
            var root = data.RootElement;
            if (root.GetProperty("attempt").GetInt32() != attempt) continue;
            var offset = root.GetProperty("offset").GetInt32();
            text = (text ?? "")[..Math.Min(offset, (text ?? "").Length)] + root.GetProperty("text").GetString();
        }
        return text;
    }

    static string Splice(string head, string? json)
    {
        var body = json?.Trim();
        return body is null or "{}" || body.Length < 2 ? head + "}" : head + "," + body[1..];
    }

    public static string Log(JobEvent e)
    {
        var line = LogLine(e);
        return JsonSerializer.Serialize(new
        {
            job_id = e.JobId, seq = line.Seq, at = line.Time, level = line.Level, message = line.Message, attempt = line.Attempt,
            trace_id = line.TraceId, span_id = line.SpanId,
        }, JobJson.Options);
    }

    /// <summary>
    /// A line of a job's log as GET /jobs/{id}/logs and the log events tell it: the attempt its data
    /// names (0 for none), and the trace and span that wrote it when tracing was on.
    /// </summary>
    public static Api.JobLogResponse LogLine(JobEvent e)
    {
        var (attempt, traceId, spanId) = (0, (string?)null, (string?)null);
        if (e.Data is not null)
        {
            using var document = JsonDocument.Parse(e.Data);
            var root = document.RootElement;
            if (root.TryGetProperty("attempt", out var a) && a.TryGetInt32(out var n)) attempt = n;
            if (root.TryGetProperty("trace_id", out var t)) traceId = t.GetString();
            if (root.TryGetProperty("span_id", out var sp)) spanId = sp.GetString();
        }
        return new(e.Seq, e.CreatedAt, e.Level ?? "info", e.Message!, attempt, traceId, spanId);
    }
}
