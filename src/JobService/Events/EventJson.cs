using System.Text;
using System.Text.Json;
using JobService.Data;

namespace JobService.Events;

/// <summary>
/// An event as the streams send it: the stored data with <c>job_id</c>, <c>seq</c> and <c>at</c>
/// in front; a log line as <c>{job_id, seq, at, level, message, attempt}</c>.
/// </summary>
public static class EventJson
{
    /// <summary>The stored data with job_id, seq and at in front (and the job's type, on the stream over all jobs).</summary>
    public static string Data(JobEvent e, string? type = null)
    {
        var head = $"{{\"job_id\":\"{e.JobId}\",\"seq\":{e.Seq},\"at\":{JsonSerializer.Serialize(e.CreatedAt, JobJson.Options)}" +
                   (type is null ? "" : $",\"job_type\":{JsonSerializer.Serialize(type)}");
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

    public static string Log(JobEvent e) => JsonSerializer.Serialize(new
    {
        job_id = e.JobId, seq = e.Seq, at = e.CreatedAt, level = e.Level ?? "info", message = e.Message, attempt = Attempt(e.Data),
    }, JobJson.Options);

    /// <summary>The attempt an event's data names, or 0.</summary>
    public static int Attempt(string? data)
    {
        if (data is null) return 0;
        using var document = JsonDocument.Parse(data);
        return document.RootElement.TryGetProperty("attempt", out var a) && a.TryGetInt32(out var n) ? n : 0;
    }
}
