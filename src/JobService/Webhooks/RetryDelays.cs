using System.Globalization;

namespace JobService.Webhooks;

/// <summary>Webhooks:RetrySchedule as waits: "0s,5s,5m,30m,2h" (seconds, minutes, hours).</summary>
public static class RetryDelays
{
    public static IReadOnlyList<TimeSpan> Parse(string schedule)
    {
        var delays = new List<TimeSpan>();
        foreach (var part in schedule.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries))
        {
            if (part.Length < 2 || !double.TryParse(part[..^1], NumberStyles.Float, CultureInfo.InvariantCulture, out var n) || n < 0)
                throw new FormatException($"Webhooks:RetrySchedule: '{part}' is not a wait like 5s, 30m or 2h.");
            delays.Add(part[^1] switch
            {
                's' => TimeSpan.FromSeconds(n),
                'm' => TimeSpan.FromMinutes(n),
                'h' => TimeSpan.FromHours(n),
                _ => throw new FormatException($"Webhooks:RetrySchedule: '{part}' must end in s, m or h."),
            });
        }
        return delays.Count > 0 ? delays : throw new FormatException("Webhooks:RetrySchedule must name at least one wait.");
    }

    /// <summary>The wait ±10 %, so that many receivers' retries do not all land in the same second.</summary>
    public static TimeSpan Jittered(TimeSpan wait) => wait * (0.9 + Random.Shared.NextDouble() * 0.2);
}
