using JobService.Transitions;
using Serilog.Core;
using Serilog.Events;

namespace JobService.Worker;

/// <summary>
/// The attempt whose code runs in this async flow: every line it logs, the handler's, the
/// packages' and the worker's own, carries its JobId, JobType and Attempt (LoggingSetup tags text
/// lines with them). <see cref="JobRunner"/> enters it at the attempt's start; the attempt's async
/// method ending undoes that, as for any AsyncLocal set inside one. One AsyncLocal set a job: a
/// logging scope set and reset two (Serilog's scope and its LogContext): four execution contexts
/// a job, about a tenth of a drain's bytes.
/// </summary>
public sealed class AttemptLog : ILogEventEnricher
{
    static readonly AsyncLocal<ClaimedJob?> Current = new();

    public static void Enter(ClaimedJob job) => Current.Value = job;

    public void Enrich(LogEvent e, ILogEventPropertyFactory factory)
    {
        if (Current.Value is not { } job) return;
        e.AddPropertyIfAbsent(new LogEventProperty("JobId", new ScalarValue(job.Id)));
        e.AddPropertyIfAbsent(new LogEventProperty("JobType", new ScalarValue(job.Type)));
        e.AddPropertyIfAbsent(new LogEventProperty("Attempt", new ScalarValue(job.Attempt)));
    }
}
