using JobService.Llm;
using JobService.Observability;
using Microsoft.Extensions.Options;

namespace JobService.Tests.Observability;

/// <summary>The pieces that keep labels bounded and ages right, on their own.</summary>
public sealed class LabelTests
{
    [Fact]
    public void AVersion7IdCarriesItsCreationTimeAndAnyOtherIdNone()
    {
        var at = new DateTimeOffset(2026, 11, 23, 12, 34, 56, 789, TimeSpan.Zero);

        Assert.Equal(at.UtcDateTime, JobIds.CreatedAt(Guid.CreateVersion7(at)));
        Assert.Null(JobIds.CreatedAt(Guid.NewGuid())); // version 4
    }

    [Fact]
    public void OnlyModelsTheConfigurationKnowsBecomeLabelValues()
    {
        var options = new LlmOptions
        {
            Prices = { ["gpt-4o-mini"] = new ModelPrice() },
            Providers = { ["local"] = new LlmProviderOptions { BaseUrl = "http://localhost:11434/v1", DefaultModel = "llama3.2" } },
        };
        var labels = new ModelLabels(Options.Create(options));

        Assert.Equal("gpt-4o-mini", labels.For("gpt-4o-mini"));
        Assert.Equal("llama3.2", labels.For("llama3.2"));
        Assert.Equal("offline", labels.For("offline"));
        Assert.Equal("other", labels.For("a-model-named-in-a-payload"));
        Assert.Equal("other", labels.For(null));
    }
}
