using Serilog.Core;
using Serilog.Events;

namespace JobService.Tests.Infrastructure;

/// <summary>A Serilog sink in the service's container (Serilog reads sinks from it): every event the service logged.</summary>
public sealed class LogCapture : ILogEventSink
{
    readonly List<LogEvent> _events = [];
    public void Emit(LogEvent e) { lock (_events) _events.Add(e); }
    public List<LogEvent> Snapshot() { lock (_events) return [.. _events]; }
}
