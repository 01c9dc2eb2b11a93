using System.Diagnostics;
using OpenTelemetry.Trace;

namespace JobService.Observability;

/// <summary>
/// The root sampler: a database command or HTTP call that no request and no job caused (a
/// heartbeat, a claim poll, a lease renewal: several a second per worker) starts no trace of its
/// own. Everything else is recorded; children follow their parent (ParentBasedSampler).
/// </summary>
public sealed class RootCallsDropped : Sampler
{
    public override SamplingResult ShouldSample(in SamplingParameters p) =>
        new(p.Kind == ActivityKind.Client && p.Links is null ? SamplingDecision.Drop : SamplingDecision.RecordAndSample);
}
