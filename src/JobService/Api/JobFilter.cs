using System.Text.Json.Nodes;
using JobService.Data;
using JobService.Handlers;
using Microsoft.EntityFrameworkCore;

namespace JobService.Api;

/// <summary>
/// Which jobs a list or a bulk action is about: statuses and types (each one or several),
/// a creation range, an id prefix and a payload filter. GET /jobs reads it from the query string,
/// POST /jobs/bulk/{action} from its body's <c>filter</c>; both apply it in SQL the same way.
/// </summary>
public sealed record JobFilter(
    IReadOnlyList<JobStatus> Statuses,
    IReadOnlyList<string> Types,
    DateTime? CreatedAfter,
    DateTime? CreatedBefore,
    string? IdPrefix,
    string? PayloadJson)
{
    public const int MaxTypes = 50;

    /// <summary>
    /// Checks every part; what is wrong goes into <paramref name="errors"/> under the field's name (<paramref name="at"/> in front).
    /// A part left out is null; one given empty is refused, since it would match every job.
    /// </summary>
    public static JobFilter Parse(IEnumerable<string>? statuses, IEnumerable<string>? types, DateTimeOffset? createdAfter, DateTimeOffset? createdBefore,
        string? idPrefix, JsonObject? payload, Dictionary<string, string[]> errors, string at = "")
    {
        var parsed = new List<JobStatus>();
        if (statuses?.Any(v => v is null) == true) errors[at + "status"] = ["status takes strings; the list holds a null."]; // a JSON body's [null]
        // status= or "status": [] from a client that built an empty value would otherwise match every job: a bulk delete of all of them.
        else if (statuses is not null && (!statuses.Any() || statuses.Any(v => Split([v]).Count == 0)))
            errors[at + "status"] = [$"status is given empty: name one or more of {string.Join(", ", JobStatusNames.All)}, or leave it out."];
        foreach (var name in Split(statuses))
        {
            if (JobStatusNames.TryParse(name, out var status)) parsed.Add(status);
            else errors[at + "status"] = [$"Unknown status '{name.Clip(50)}'. Use one or more of: {string.Join(", ", JobStatusNames.All)}."];
        }
        var typeNames = (types ?? []).OfType<string>().SelectMany(v => v.Split(',', StringSplitOptions.RemoveEmptyEntries)).ToList(); // untrimmed: "echo\n" is no type name
        if (types?.Any(v => v is null) == true) errors[at + "type"] = ["type takes strings; the list holds a null."];
        else if (types is not null && (!types.Any() || types.Any(v => !v.Split(',').Any(t => t.Length > 0))))
            errors[at + "type"] = ["type is given empty: name one or more job types, or leave it out."];
        foreach (var type in typeNames.Where(t => !JobTypeName.IsValid(t)))
            errors[at + "type"] = [$"'{type.Clip(50)}' is not a job type name ({JobTypeName.Rule})."];
        if (typeNames.Count > MaxTypes) errors[at + "type"] = [$"At most {MaxTypes} types."];
        if (createdAfter > createdBefore) errors[at + "created_after"] = ["created_after must not be later than created_before."];
        if (idPrefix is not null && !IsIdPrefix(idPrefix))
            errors[at + "id_prefix"] = ["id_prefix is the start of a job id: 1 to 36 hexadecimal digits, with the id's dashes where they fall."];
        var payloadErrors = new List<string>();
        if (payload is not null) PayloadFilter.Check(payload, at + "payload", payloadErrors);
        if (payloadErrors.Count > 0) errors[at + "payload"] = [.. errors.GetValueOrDefault(at + "payload") ?? [], .. payloadErrors];
        return new JobFilter(parsed.Distinct().ToList(), typeNames.Distinct().ToList(), createdAfter?.UtcDateTime, createdBefore?.UtcDateTime,
            idPrefix?.ToLowerInvariant(), payloadErrors.Count > 0 ? null : payload?.ToJsonString(JobJson.Options)); // refused: never written out
    }

    /// <summary>The matching jobs of <paramref name="tenant"/> (null: every tenant), unordered, untracked.</summary>
    public IQueryable<Job> Apply(JobsDbContext db, string? tenant, ReadDialect dialect)
    {
        var jobs = (PayloadJson is null ? db.Jobs : dialect.JobsWithPayload(db, PayloadJson)).AsNoTracking();
        if (tenant is not null) jobs = jobs.Where(j => j.TenantId == tenant);
        if (Types.Count == 1) { var type = Types[0]; jobs = jobs.Where(j => j.Type == type); }
        else if (Types.Count > 1) jobs = jobs.Where(j => Types.Contains(j.Type));
        if (CreatedAfter is { } after) jobs = jobs.Where(j => j.CreatedAt >= after);
        if (CreatedBefore is { } before) jobs = jobs.Where(j => j.CreatedAt < before);
        if (IdPrefix is not null)
        {
            // A prefix is a range of ids (0190ab… to 0190ab…ffff), which the primary key answers.
            var (low, high) = (Id(IdPrefix, '0'), Id(IdPrefix, 'f'));
            jobs = jobs.Where(j => j.Id >= low && j.Id <= high);
        }
        return Statuses.Count > 0 ? jobs.InStatuses(Statuses) : jobs;
    }

    /// <summary>The UUID the prefix starts, every later digit <paramref name="fill"/>.</summary>
    static Guid Id(string prefix, char fill)
    {
        var hex = prefix.Replace("-", "");
        return Guid.ParseExact(hex + new string(fill, 32 - hex.Length), "N");
    }

    static bool IsIdPrefix(string prefix)
    {
        if (prefix.Length is 0 or > 36) return false;
        const string shape = "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx";
        for (var i = 0; i < prefix.Length; i++)
            if (shape[i] == '-' ? prefix[i] != '-' : !char.IsAsciiHexDigit(prefix[i])) return false;
        return true;
    }

    /// <summary>Values given repeated (status=a&amp;status=b) or separated by commas (status=a,b).</summary>
    static List<string> Split(IEnumerable<string>? values) =>
        (values ?? []).OfType<string>().SelectMany(v => v.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries)).ToList();
}
