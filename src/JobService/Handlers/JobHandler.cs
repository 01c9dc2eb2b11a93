using System.Text.Json;
using System.Text.Json.Nodes;

namespace JobService.Handlers;

/// <summary>
/// The base of a C# job handler: declare the type with <see cref="JobTypeAttribute"/>, the
/// payload as a record with validation attributes, and register it with
/// <c>services.AddJobHandler&lt;THandler&gt;()</c>. The payload is validated when the job is
/// submitted, so <see cref="ExecuteAsync(TPayload, IJobContext)"/> sees only valid ones.
/// </summary>
public abstract class JobHandler<TPayload> : IJobHandler where TPayload : class
{
    public abstract Task<object?> ExecuteAsync(TPayload payload, IJobContext context);

    async Task<JsonNode?> IJobHandler.ExecuteAsync(IJobContext context)
    {
        var payload = context.Payload.Deserialize<TPayload>(JobJson.Options)
            ?? throw new NonRetryableJobException("The payload is null.");
        var result = await ExecuteAsync(payload, context);
        return result is null ? null : JsonSerializer.SerializeToNode(result, result.GetType(), JobJson.Options);
    }
}
