using System.Diagnostics;
using JobService.Transitions;

namespace JobService.Observability;

/// <summary>
/// The <c>JobService</c> ActivitySource and the spans the service makes itself. A job's
/// <c>process {type}</c> span is linked to the request that created it, not parented: the
/// request's trace ended long before, maybe on another machine, and one trace per request
/// stays readable. Without a listener (no exporter) every method here returns null at once.
/// </summary>
public static class JobTracing
{
    public const string SourceName = "JobService";
    public static readonly ActivitySource Source = new(SourceName);

    /// <summary>The W3C traceparent of the current span (the request's, in an endpoint), to store on a new job.</summary>
    public static string? CurrentTraceParent() => Activity.Current is { IdFormat: ActivityIdFormat.W3C } a ? a.Id : null;

    /// <summary>Starts one attempt's span, a root linked to <paramref name="traceParent"/> when the job has one.</summary>
    public static Activity? StartProcess(ClaimedJob job, string? traceParent)
    {
        if (!Source.HasListeners()) return null;
        Activity.Current = null; // a root: whatever ran before in this flow is not its parent
        ActivityLink[]? links = traceParent is not null && ActivityContext.TryParse(traceParent, null, isRemote: true, out var created)
            ? [new ActivityLink(created)]
            : null;
        return Source.StartActivity(ActivityKind.Consumer, default, new TagList
        {
            { "messaging.system", "jobservice" },
            { "messaging.operation.type", "process" },
            { "messaging.operation.name", "process" },
            { "messaging.destination.name", job.Type },
            { "messaging.message.id", job.Id.ToString() },
            { "jobservice.job.attempt", job.Attempt },
            { "jobservice.job.max_attempts", job.MaxAttempts },
        }, links, name: $"process {job.Type}");
    }

    /// <summary>Marks a span failed, with the exception as an event (type, message, stack).</summary>
    public static void Failed(Activity? activity, Exception e, string? outcome = null)
    {
        if (activity is null) return;
        activity.SetStatus(ActivityStatusCode.Error, e.Message);
        activity.AddException(e);
        if (outcome is not null) activity.SetTag("jobservice.job.outcome", outcome);
    }
}
