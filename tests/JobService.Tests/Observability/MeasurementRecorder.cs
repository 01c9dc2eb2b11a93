using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using JobService.Hosting;
using JobService.Tests.Infrastructure;

namespace JobService.Tests.Observability;

/// <summary>
/// Every measurement one host's JobService meter records, as it is recorded, for tests that need
/// to count after the host stopped (a hand-back at shutdown). Listens to that meter instance only,
/// so hosts of other tests running in parallel are not heard.
/// </summary>
public sealed class MeasurementRecorder : IDisposable
{
    public sealed record Measured(string Instrument, double Value, IReadOnlyDictionary<string, object?> Tags);

    readonly MeterListener _listener = new();
    readonly ConcurrentQueue<Measured> _all = new();
    readonly JobService.Worker.JobWakeup _recorded = new();

    public MeasurementRecorder(JobServiceMetrics metrics)
    {
        _listener.InstrumentPublished = (instrument, l) => { if (instrument.Meter == metrics.Meter) l.EnableMeasurementEvents(instrument); };
        _listener.SetMeasurementEventCallback<long>((i, v, tags, _) => Add(i, v, tags));
        _listener.SetMeasurementEventCallback<double>((i, v, tags, _) => Add(i, v, tags));
        _listener.Start();
    }

    void Add(Instrument instrument, double value, ReadOnlySpan<KeyValuePair<string, object?>> tags)
    {
        _all.Enqueue(new Measured(instrument.Name, value, tags.ToArray().ToDictionary(t => t.Key, t => t.Value)));
        _recorded.Signal();
    }

    /// <summary>Waits, measurement by measurement, until <paramref name="condition"/> holds; fails after 15 s.</summary>
    public async Task UntilAsync(Func<bool> condition, string what)
    {
        var deadline = DateTime.UtcNow.AddSeconds(15);
        while (true)
        {
            var next = _recorded.Next; // taken before the check: a measurement in between wakes the wait
            if (condition()) return;
            var left = deadline - DateTime.UtcNow;
            if (!await next.ArrivesWithinAsync(left)) Assert.Fail($"Never {what}");
        }
    }

    /// <summary>The sum of what <paramref name="instrument"/> recorded with all of <paramref name="tags"/>.</summary>
    public double Sum(string instrument, params (string Key, string Value)[] tags) =>
        _all.Where(m => m.Instrument == instrument && tags.All(t => Equals(m.Tags.GetValueOrDefault(t.Key), t.Value))).Sum(m => m.Value);

    /// <summary>How many measurements <paramref name="instrument"/> recorded with all of <paramref name="tags"/> (a histogram's count).</summary>
    public int Count(string instrument, params (string Key, string Value)[] tags) =>
        _all.Count(m => m.Instrument == instrument && tags.All(t => Equals(m.Tags.GetValueOrDefault(t.Key), t.Value)));

    /// <summary>Each attempt outcome recorded for <paramref name="type"/>, in order.</summary>
    public IReadOnlyList<string> Outcomes(string type) => _all
        .Where(m => m.Instrument == "jobservice.job.attempts" && Equals(m.Tags.GetValueOrDefault("type"), type))
        .Select(m => (string)m.Tags["outcome"]!).ToList();

    public void Dispose() => _listener.Dispose();
}
