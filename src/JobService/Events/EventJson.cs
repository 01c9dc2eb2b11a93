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
    public static string Data(JobEvent e)
    {
        var head = $"{{\"job_id\":\"{e.JobId}\",\"seq\":{e.Seq},\"at\":{JsonSerializer.Serialize(e.CreatedAt, JobJson.Options)}";
        var body = e.Data?.Trim();
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
