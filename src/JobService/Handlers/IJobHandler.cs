using System.Text.Json.Nodes;

namespace JobService.Handlers;

/// <summary>
/// Runs one attempt of a job. Most handlers derive from <see cref="JobHandler{TPayload}"/>,
/// which deserializes the payload; implement this directly for types whose payload is only
/// known at run time (types declared in configuration).
/// </summary>
public interface IJobHandler
{
    /// <summary>
    /// Returns the result (any JSON-serializable value, or null). An exception fails the
    /// attempt and is retried with backoff, unless it is a <see cref="NonRetryableJobException"/>.
    /// </summary>
    Task<JsonNode?> ExecuteAsync(IJobContext context);
}
