using JobService.Api;
using JobService.Data;
using Microsoft.EntityFrameworkCore;

namespace JobService.Events;

/// <summary>
/// GET /jobs/{id}/events as it runs: <c>retry:</c>, then a <c>snapshot</c> (a fresh connection)
/// or every event after Last-Event-ID from the table, then live events as the hub pokes it,
/// a <c>: ping</c> on a quiet stream, and the end after the terminal event or after
/// Events:MaxStreamSeconds (the browser resumes where it was). An event that tells a story line
/// is followed by a <c>log</c> event with the same id.
/// </summary>
public sealed class JobEventStream(Guid id, long? lastEventId, EventServices services) : IResult
{
    static readonly string[] StatusKinds = [JobEventKinds.Created, JobEventKinds.Status, JobEventKinds.Completed, JobEventKinds.Failed, JobEventKinds.Cancelled];

    public async Task ExecuteAsync(HttpContext http)
    {
        var o = services.Options.Value;
        using var lifetime = StreamLoop.Lifetime(http);
        var ct = lifetime.Token;
        using var watch = services.Hub.WatchJob(id); // before the first read: nothing committed after it is missed
        var sse = new SseWriter(http);
        var ends = DateTime.UtcNow.AddSeconds(o.MaxStreamSeconds);
        try
        {
            await sse.RetryAsync(TimeSpan.FromMilliseconds(o.RetryMs));
            var last = lastEventId ?? -1;
            await StreamLoop.RunAsync(http, StepAsync, watch, sse, ends, o, ct);

            // Reads and sends from `last` on, then waits for a poke; true when the stream ends.
            async Task<bool> StepAsync()
            {
                var (events, job) = await services.Reads.ReadAsync(id, last, ct);
                if (job is null) return true; // deleted: nothing more will happen
                // A fresh stream, a resume into a range compacted away (a gap before the first event read), or
                // from a place the job never reached (an id from elsewhere, or from before a restore), starts from the job as it stands.
                if (last < 0 || (events.Count > 0 && events[0].Seq > last + 1) || last > job.EventSeq)
                {
                    await sse.EventAsync(JobEventKinds.Snapshot, job.EventSeq.ToString(),
                        EventJson.Job(JobResponse.From(job), job.EventSeq, job.Status == JobStatus.Running ? await OutputSoFarAsync(job, ct) : null));
                    last = job.EventSeq;
                    return JobRowIsFinished(job);
                }
                // A job's seqs have no gaps but what compaction dropped: one inside the read is a
                // compacted range too. What comes before it is sent; the next read starts at the gap, with the snapshot.
                var upToGap = 1;
                while (upToGap < events.Count && events[upToGap].Seq == events[upToGap - 1].Seq + 1) upToGap++;
                foreach (var e in events.Take(upToGap))
                {
                    if (await SendAsync(sse, e, ct)) return true; // the terminal event: the stream ends
                    last = e.Seq;
                }
                if (upToGap < events.Count || events.Count == JobEventReads.Batch) return false;
                await watch.WaitAsync(StreamLoop.Until(ends, sse, o), ct);
                await sse.PingIfQuietAsync(o.HeartbeatSeconds);
                return !await Auth.CallerCheck.StillValidAsync(http); // revoked, rotated or signed out: the reconnect meets the 401
            }
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
            // The client went away, or this instance is stopping.
        }
    }

    /// <summary>
    /// The running attempt's text so far, from its output events after its claim up to the
    /// snapshot. Not by the attempt's number alone: a run handed back, or cancelled and retried by
    /// hand, shares its number with the next, and a snapshot of that one showed the earlier run's text.
    /// </summary>
    async Task<string?> OutputSoFarAsync(Job job, CancellationToken ct)
    {
        await using var db = await services.Contexts.CreateDbContextAsync(ct);
        var claimed = await db.JobEvents.Where(e => e.JobId == id && e.Kind == JobEventKinds.Status && e.Seq <= job.EventSeq
            && e.Message!.StartsWith(Transitions.Story.ClaimedBy)).MaxAsync(e => (long?)e.Seq, ct) ?? 0;
        var outputs = await db.JobEvents.AsNoTracking()
            .Where(e => e.JobId == id && e.Kind == JobEventKinds.Output && e.Seq > claimed && e.Seq <= job.EventSeq).OrderBy(e => e.Seq).ToListAsync(ct);
        return EventJson.Output(outputs, job.Attempt);
    }

    /// <summary>Sends one event (and its story line); true when it was the job's terminal event as the job now stands.</summary>
    async Task<bool> SendAsync(SseWriter sse, JobEvent e, CancellationToken ct)
    {
        var id = e.Seq.ToString();
        var ends = false;
        if (JobEventKinds.IsTerminal(e.Kind))
        {
            var job = await CurrentTerminalAsync(e, ct);
            if (job is not null)
            {
                await sse.EventAsync(e.Kind, id, EventJson.Job(JobResponse.From(job), e.Seq));
                ends = true;
            }
            else await sse.EventAsync(JobEventKinds.Status, id, EventJson.Data(e)); // an earlier end, since retried: history
        }
        else if (e.Kind != JobEventKinds.Log) await sse.EventAsync(e.Kind, id, EventJson.Data(e));
        if (e.Message is not null) await sse.EventAsync(JobEventKinds.Log, id, EventJson.Log(e));
        return ends;
    }

    /// <summary>The job, when <paramref name="e"/> is how it ended and nothing has changed its status since (no retry).</summary>
    async Task<Job?> CurrentTerminalAsync(JobEvent e, CancellationToken ct)
    {
        await using var db = await services.Contexts.CreateDbContextAsync(ct);
        var latest = await db.JobEvents.Where(x => x.JobId == id && StatusKinds.Contains(x.Kind)).MaxAsync(x => (long?)x.Seq, ct);
        if (latest != e.Seq) return null;
        var job = await db.Jobs.AsNoTracking().FirstOrDefaultAsync(j => j.Id == id, ct);
        return job is not null && JobRowIsFinished(job) ? job : null;
    }

    static bool JobRowIsFinished(Job job) => job.Status is JobStatus.Completed or JobStatus.Failed or JobStatus.Cancelled;
}
