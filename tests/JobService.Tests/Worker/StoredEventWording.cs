using System.Globalization;
using JobService.Data;
using JobService.Transitions;

namespace JobService.Tests.Worker;

/// <summary>
/// What the created, claimed and completed events must say and carry. Their statements' SQL
/// words and stores them from <see cref="Story"/>'s templates, and the service never words them
/// in C#; the tests hold what the SQL stored to these (QueueContract's
/// <c>The…EventIsTheStorysWhicheverStatementWritesIt</c>), each <c>%s</c> filled as <c>format()</c> fills it.
/// </summary>
static class StoredEventWording
{
    public static JobEvent Created(JobRow r, string source, int priority, DateTime now)
    {
        var (kind, level, line) = Story.CreatedTemplate;
        return Story.Event(r, kind, now, level, Fill(line, source),
            Story.Fields(("status", "pending"), ("type", r.Type), ("priority", priority), ("run_at", r.RunAt), ("max_attempts", r.MaxAttempts), ("message", r.Message)));
    }

    public static JobEvent Claimed(JobRow r, string worker, DateTime now)
    {
        var (kind, level, line) = Story.ClaimedTemplate;
        return Story.Event(r, kind, now, level, Fill(line, worker, r.Attempt, r.MaxAttempts),
            Story.Fields(("status", "running"), ("attempt", r.Attempt), ("max_attempts", r.MaxAttempts), ("worker", worker)));
    }

    public static JobEvent Completed(JobRow r, DateTime now)
    {
        var (_, level, line) = Story.CompletedTemplate;
        return Story.Terminal(r, now, level, Fill(line, Story.Seconds(Story.Elapsed(r, now)), r.Attempt, r.MaxAttempts));
    }

    /// <summary>Each <c>%s</c> in turn by the next value, the values taken as they are (a <c>%s</c> inside one stays).</summary>
    static string Fill(string template, params object[] values)
    {
        var parts = template.Split("%s");
        Assert.Equal(values.Length + 1, parts.Length);
        return string.Concat(parts.Select((part, i) => i == 0 ? part : Convert.ToString(values[i - 1], CultureInfo.InvariantCulture) + part));
    }
}
