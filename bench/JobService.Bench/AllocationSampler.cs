using System.Collections.Concurrent;
using System.Diagnostics.Tracing;

namespace JobService.Bench;

/// <summary>
/// What a stretch of the run allocated, by type (<c>work --allocations N</c>): the runtime's own
/// allocation sample (GCAllocationTick, one event about every 100 KB allocated, naming the type of
/// the object that crossed the mark), so the shares are a sample's, good to a per cent or so over a
/// drain of tens of thousands of jobs. Off unless asked for: listening costs a little on every sample.
/// </summary>
sealed class AllocationSampler : EventListener
{
    const EventKeywords GcKeyword = (EventKeywords)0x1;
    readonly ConcurrentDictionary<string, long> _bytes = new();
    volatile bool _stopped;

    protected override void OnEventSourceCreated(EventSource source)
    {
        if (source.Name == "Microsoft-Windows-DotNETRuntime") EnableEvents(source, EventLevel.Verbose, GcKeyword);
    }

    protected override void OnEventWritten(EventWrittenEventArgs e)
    {
        if (_stopped || e.EventName?.StartsWith("GCAllocationTick", StringComparison.Ordinal) != true) return;
        var type = e.Payload![e.PayloadNames!.IndexOf("TypeName")] as string ?? "?";
        var bytes = Convert.ToInt64(e.Payload[e.PayloadNames.IndexOf("AllocationAmount64")]);
        _bytes.AddOrUpdate(type, bytes, (_, sum) => sum + bytes);
    }

    /// <summary>Stops sampling; the <paramref name="top"/> types by sampled bytes, each with its share of all of them.</summary>
    public object[] Top(int top)
    {
        _stopped = true;
        var total = Math.Max(1, _bytes.Values.Sum());
        return _bytes.OrderByDescending(t => t.Value).Take(top)
            .Select(t => (object)new { type = t.Key, share = Math.Round((double)t.Value / total, 4) }).ToArray();
    }
}
