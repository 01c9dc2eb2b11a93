using System.Collections.Concurrent;

namespace JobService.Transitions;

/// <summary>
/// A driver's claim statements, each built once: the text depends only on the claim's shape (how
/// many quotas, whether it refuses webhook calls, whether tenants are capped), never on its values,
/// which are bound. Built for every claim, the text (about 3,500 characters, put together from six
/// parts) was two thirds of what an idle worker's claim allocated (31–39 KB, now 10–20), and an
/// idle or trickle-fed worker claims once a second and twice a job (docs/benchmarks.md,
/// forty-fifth session).
/// </summary>
public sealed class ClaimStatements(Func<ClaimRequest, string> build)
{
    readonly ConcurrentDictionary<(int Quotas, bool Refusing, bool Capped), string> _built = new();

    public string For(ClaimRequest request) =>
        _built.GetOrAdd((request.Quotas.Count, request.RefuseWebhookCalls, request.MaxRunningPerTenant > 0),
            static (_, args) => args.build(args.request), (build, request));
}
