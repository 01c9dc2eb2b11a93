using System.Text;

namespace JobService.Worker;

/// <summary>The parts of the claim statement both dialects share.</summary>
static class ClaimSql
{
    /// <summary>What a claim does to each job it takes: the new lease, and one attempt spent.</summary>
    public const string MarkRunning = """
        status = 'running', attempt = attempt + 1, locked_by = {0}, locked_until = {1},
        started_at = {2}, updated_at = {2}, progress = 0, message = 'Running', error = NULL
        """;

    /// <summary>PostgreSQL needs the table named (the picked rows have an id too); SQLite refuses it.</summary>
    public static string Returning(string table) =>
        $"""RETURNING {table}id AS "Id", {table}type AS "Type", {table}payload AS "Payload", {table}attempt AS "Attempt", {table}max_attempts AS "MaxAttempts" """;

    public const string Order = "ORDER BY priority DESC, run_at, id";

    /// <summary>
    /// Parameters {0} worker, {1} lease until, {2} now, {3} overall limit, then per quota
    /// {4 + 2i} its types and {5 + 2i} its limit. <paramref name="group"/> writes one quota's
    /// candidate SELECT given the two placeholders.
    /// </summary>
    public static (string Candidates, object[] Parameters) Build(ClaimRequest request, Func<object, object> typesParameter,
        Func<string, string, string> group, string unionSeparator)
    {
        var parameters = new List<object> { request.WorkerId, request.LeaseUntil, request.Now, request.Limit };
        var sql = new StringBuilder();
        for (var i = 0; i < request.Quotas.Count; i++)
        {
            if (i > 0) sql.Append(unionSeparator);
            sql.Append(group($"{{{parameters.Count}}}", $"{{{parameters.Count + 1}}}").Replace("{i}", i.ToString()));
            parameters.Add(typesParameter(request.Quotas[i].Types.ToArray()));
            parameters.Add(Math.Min(request.Quotas[i].Limit, request.Limit)); // no quota takes more than the free slots
        }
        return (sql.ToString(), parameters.ToArray());
    }
}
