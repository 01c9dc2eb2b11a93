using JobService.Llm;
using Microsoft.Extensions.Options;

namespace JobService.Observability;

/// <summary>
/// The <c>model</c> label: a job's payload may name any model, so only models the configuration
/// knows (a price, a provider's default, offline) become label values; any other is "other".
/// That keeps the number of series bounded whatever clients send.
/// </summary>
public sealed class ModelLabels(IOptions<LlmOptions> options)
{
    public const string Other = "other";

    readonly HashSet<string> _known = options.Value.Prices.Keys
        .Concat(options.Value.Providers.Values.Select(p => p.DefaultModel).OfType<string>())
        .Append(OfflineChatBackend.Model)
        .ToHashSet(StringComparer.Ordinal);

    public string For(string? model) => model is not null && _known.Contains(model) ? model : Other;
}
