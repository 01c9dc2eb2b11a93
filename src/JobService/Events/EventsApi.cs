using JobService.Api;
using JobService.Auth;
using JobService.Data;
using JobService.Handlers;
using JobService.Transitions;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Mvc;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;

namespace JobService.Events;

/// <summary>What the event endpoints need, bound as one parameter.</summary>
public sealed record EventServices(IDbContextFactory<JobsDbContext> Contexts, JobsConnections Connections, IJobDriver Driver, EventHub Hub, JobEventReads Reads,
    IOptions<EventsOptions> Options, System.Security.Claims.ClaimsPrincipal User)
{
    public Caller Caller => Caller.From(User);
}

/// <summary>
/// Server-Sent Events: GET /jobs/{id}/events (one job, resumable by seq) and GET /events (many
/// jobs, for dashboards and lists). Everything that can go wrong before the stream starts is a
/// ProblemDetails; once it started, the stream only ends.
/// </summary>
/// <summary>A stream token and the URL it opens.</summary>
public sealed record StreamTokenResponse(string Token, DateTime ExpiresAt, string Url);

public static class EventsApi
{
    public const int MaxJobIds = 100;
    public const int MaxJobIdsWithLogs = 20;

    public static IEndpointRouteBuilder MapEventsApi(this IEndpointRouteBuilder app)
    {
        app.MapGet("/jobs/{id}/events", JobEvents).WithTags("Events").WithName("StreamJobEvents")
            .WithSummary("Stream one job's events (Server-Sent Events)")
            .WithDescription("text/event-stream: `retry:`, then a `snapshot` (the job as GET /jobs/{id} returns it) on a fresh connection, " +
                "or every event after `Last-Event-ID` (header, or `last_event_id` for a reloaded page, or `lastEventId` as EventSource polyfills send it; the header wins), then live " +
                "`status`, `progress`, `log`, `usage` and `output` events and finally `completed`, `failed` or `cancelled` (the whole job), " +
                "after which the stream ends. SSE ids are the job's event seq. A reconnect after the end gets 204. See docs/events.md.")
            .Produces(StatusCodes.Status200OK, contentType: "text/event-stream").Produces(StatusCodes.Status204NoContent)
            .ProducesProblems(400, 401, 403, 404, 429).Streams();
        app.MapPost("/jobs/{id}/stream-token", StreamToken).TakesNoBody().WithTags("Events").WithName("CreateStreamToken")
            .WithSummary("A short-lived token that opens this job's event stream from a browser")
            .WithDescription("EventSource cannot send headers: pass the token as GET /jobs/{id}/events?access_token=…. It opens that one " +
                "job's events and nothing else, and expires after Events:StreamTokenMinutes (an expired token is a 401: ask for a new one).")
            .ProducesProblems(400, 401, 403, 404, 429).RequireAuthorization(Scope.EventsRead).RequireRateLimiting(AuthSetup.ReadLimit);
        app.MapGet("/events", AllEvents).WithTags("Events").WithName("StreamEvents")
            .WithSummary("Stream the events of many jobs (Server-Sent Events)")
            .WithDescription("One stream for a dashboard or a list: `created`, `status`, `progress`, `usage` and the terminal events of the " +
                "jobs matching `type`, `status` and `job_id` (repeatable; at most 100 ids); `include=log,output` adds those with at most 20 ids. " +
                "Ids are an opaque cursor: a resume replays what may have been missed (drop duplicates by job_id and seq). A fresh stream, or " +
                "a cursor too old, starts with a `snapshot-list` of the matching unfinished jobs. The caller's tenant's jobs; an admin may " +
                "pass tenant_id (or * for every tenant).")
            .Produces(StatusCodes.Status200OK, contentType: "text/event-stream").ProducesProblems(400, 401, 403, 429).Streams();
        return app;
    }

    [Api.TakesQuery("access_token")] // a stream token, read by the authentication handler
    static async Task<Results<JobEventStream, NoContent, ValidationProblem, ProblemHttpResult>> JobEvents(
        Guid id,
        [FromHeader(Name = "Last-Event-ID")] string? lastEventIdHeader,
        [FromQuery(Name = "last_event_id")] string? lastEventIdQuery,
        [FromQuery(Name = "lastEventId")] string? lastEventIdPolyfill,
        [AsParameters] EventServices s,
        CancellationToken ct)
    {
        var raw = lastEventIdHeader ?? lastEventIdQuery ?? lastEventIdPolyfill;
        long? lastEventId = null;
        if (raw is not null)
        {
            if (!long.TryParse(raw, System.Globalization.NumberStyles.None, null, out var n))
                return Invalid("Last-Event-ID", $"Last-Event-ID must be a whole number (an event seq), not '{raw.Clip(40)}'.");
            lastEventId = n;
        }
        var caller = s.Caller;
        if (caller.OnlyJob is { } only && only != id) return JobProblems.NotFound(id); // a stream token opens its own job only
        if (await Api.JobById.StatusAsync(s.Connections, s.Driver, id, caller.JobTenant, ct) is not var (status, latest)) return JobProblems.NotFound(id);
        if (lastEventId is { } last && status is JobStatus.Completed or JobStatus.Failed or JobStatus.Cancelled)
        {
            await using var db = await s.Contexts.CreateDbContextAsync(ct);
            var ended = await db.JobEvents.Where(e => e.JobId == id && (e.Kind == JobEventKinds.Completed || e.Kind == JobEventKinds.Failed
                || e.Kind == JobEventKinds.Cancelled)).MaxAsync(e => (long?)e.Seq, ct);
            // Seen the end: the browser stops reconnecting. A place past the job's last event was never
            // sent for it (a restore, another job's id): the stream gives it the snapshot, the end included.
            if (ended is null || (last >= ended && last <= latest)) return TypedResults.NoContent();
        }
        return new JobEventStream(id, lastEventId, s);
    }

    static Results<AllEventsStream, ValidationProblem, ProblemHttpResult> AllEvents(
        [FromQuery(Name = "tenant_id")] string? tenantId,
        [FromQuery(Name = "type")] string[]? type,
        [FromQuery(Name = "status")] string[]? status,
        [FromQuery(Name = "job_id")] string[]? jobId,
        [FromQuery(Name = "include")] string? include,
        [FromHeader(Name = "Last-Event-ID")] string? lastEventIdHeader,
        [FromQuery(Name = "last_event_id")] string? lastEventIdQuery,
        [FromQuery(Name = "lastEventId")] string? lastEventIdPolyfill,
        [AsParameters] EventServices s)
    {
        if (JobProblems.TenantRefusal(s.Caller, tenantId) is { } refused) return refused;
        var errors = new Dictionary<string, string[]>();
        var types = Split(type);
        foreach (var t in types.Where(t => !JobTypeName.IsValid(t)))
            errors["type"] = [$"'{t.Clip(50)}' is not a job type name ({JobTypeName.Rule})."];
        var statuses = new List<JobStatus>();
        foreach (var name in Split(status))
        {
            if (JobStatusNames.TryParse(name, out var parsed)) statuses.Add(parsed);
            else errors["status"] = [$"Unknown status '{name.Clip(50)}'. Use one or more of: {string.Join(", ", JobStatusNames.All)}."];
        }
        var ids = new List<Guid>();
        foreach (var raw in Split(jobId))
        {
            if (Guid.TryParse(raw, out var g)) ids.Add(g);
            else errors["job_id"] = [$"'{raw.Clip(50)}' is not a job id (a UUID)."];
        }
        if (ids.Count > MaxJobIds) errors["job_id"] = [$"At most {MaxJobIds} job ids per stream."];
        var included = Split(include is null ? null : [include]);
        if (included.Any(i => i is not ("log" or "output"))) errors["include"] = ["include takes log, output or both (include=log,output)."];
        else if (included.Count > 0 && (ids.Count is 0 or > MaxJobIdsWithLogs))
            errors["include"] = [$"include=log,output needs 1 to {MaxJobIdsWithLogs} job_id values: log and output events are per job."];
        DateTime? cursor = null;
        if ((lastEventIdHeader ?? lastEventIdQuery ?? lastEventIdPolyfill) is { } raw2)
        {
            if (AllEventsStream.TryParseCursor(raw2, out var at)) cursor = at;
            else errors["Last-Event-ID"] = ["Last-Event-ID must be an id this stream sent (t followed by digits)."];
        }
        if (errors.Count > 0) return TypedResults.ValidationProblem(errors, title: "The event stream request is invalid");
        var filter = new EventFilter(s.Caller.TenantScope(tenantId), types, statuses, ids, included.Contains("log"), included.Contains("output"));
        return new AllEventsStream(filter, cursor, s.Contexts, s.Hub, s.Options, s.Connections.IsPostgres);
    }

    /// <summary>
    /// POST /jobs/{id}/stream-token: for a job of the caller's tenant (another tenant's is a 404 like
    /// any job that does not exist).
    /// </summary>
    static async Task<Results<Ok<StreamTokenResponse>, ProblemHttpResult>> StreamToken(
        Guid id, JobsConnections connections, Transitions.IJobDriver driver, StreamTokens tokens, ApiKeyStore keys,
        System.Security.Claims.ClaimsPrincipal user, CancellationToken ct)
    {
        var caller = Caller.From(user);
        if (await Api.JobById.FindAsync(connections, driver, id, caller.JobTenant, ct) is not { } job) return JobProblems.NotFound(id);
        var key = caller.KeyId is { } keyId ? await keys.FindByIdAsync(keyId, ct) : null;
        var (token, expires) = await tokens.IssueAsync(id, job.TenantId, key, ApiKeyAuthentication.SessionOf(user), ct);
        return TypedResults.Ok(new StreamTokenResponse(token, expires, $"/jobs/{id}/events?access_token={token}"));
    }

    /// <summary>Open event streams: scope events:read, and the per-key limit on open streams.</summary>
    static RouteHandlerBuilder Streams(this RouteHandlerBuilder route) =>
        route.RequireAuthorization(Scope.EventsRead).RequireRateLimiting(AuthSetup.StreamLimit);

    static List<string> Split(string[]? values) =>
        (values ?? []).SelectMany(v => v.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries)).ToList();

    static ValidationProblem Invalid(string field, string message) =>
        TypedResults.ValidationProblem(new Dictionary<string, string[]> { [field] = [message] }, title: "The event stream request is invalid");
}
