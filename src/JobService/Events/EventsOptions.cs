using System.ComponentModel.DataAnnotations;

namespace JobService.Events;

/// <summary>The <c>Events</c> section: the live streams and the event log.</summary>
public sealed class EventsOptions
{
    public const string Section = "Events";

    /// <summary>The reconnection delay a stream asks the browser for (the SSE <c>retry:</c> field).</summary>
    [Range(100, 600_000)] public int RetryMs { get; set; } = 3_000;

    /// <summary>A <c>: ping</c> comment this often on a quiet stream, so that proxies keep it open.</summary>
    [Range(1, 3_600)] public int HeartbeatSeconds { get; set; } = 15;

    /// <summary>The server closes a stream after this long; the client resumes where it was, transparently.</summary>
    [Range(1, 86_400)] public int MaxStreamSeconds { get; set; } = 3_600;

    /// <summary>The safety net behind notifications: watched jobs are re-read this often.</summary>
    [Range(1, 3_600)] public int PollFallbackSeconds { get; set; } = 5;

    /// <summary>GET /events (a stream over many jobs) reads the table at most this often; GET /jobs/{id}/events reads at every poke.</summary>
    [Range(0, 10_000)] public int ListReadIntervalMs { get; set; } = 250;

    /// <summary>LLM partial text is written at most this often per job (never per token), or sooner with a due progress write.</summary>
    [Range(10, 60_000)] public int OutputFlushMs { get; set; } = 200;

    /// <summary>Progress and output events of jobs finished this long ago are compacted away (the result holds the final text).</summary>
    [Range(1, 1_000_000)] public int CompactAfterMinutes { get; set; } = 60;

    /// <summary>How long a stream token (POST /jobs/{id}/stream-token) opens its job's stream.</summary>
    [Range(1, 10_080)] public int StreamTokenMinutes { get; set; } = 60;

    /// <summary>How far back GET /events replays on resume before it sends a snapshot-list instead.</summary>
    [Range(1, 1_440)] public int ReplayWindowMinutes { get; set; } = 10;
}
