using JobService.Llm;

namespace JobService.Tests.Llm;

public sealed class ExpectedTokensTests
{
    static ChatResult Call(int tokens, string finish) => new("text", "offline", "m", 10, tokens, 0) { FinishReason = finish };

    /// <summary>
    /// Regression: calls cut off at their max_tokens of 3 were taken as how long such an answer is,
    /// so a later job of the same type asking for 120 expected 3, and its bar sat at 98 % for most of the call.
    /// </summary>
    [Fact]
    public void CallsCutOffByTheirMaxTokensDoNotSetWhatALaterCallIsExpectedToProduce()
    {
        var expected = new ExpectedTokens();
        expected.Observe("text_generation", null, Call(3, "length"));
        expected.Observe("text_generation", null, Call(3, "length"));

        Assert.Equal(120, expected.For("text_generation", null, "m", maxTokens: 120, fallback: 500));
    }

    [Fact]
    public void CallsThatEndedByThemselvesSetTheExpectationToTheirMedianWithinTheMaxTokens()
    {
        var expected = new ExpectedTokens();
        foreach (var tokens in new[] { 40, 60, 50 }) expected.Observe("text_generation", null, Call(tokens, "stop"));

        Assert.Equal(50, expected.For("text_generation", null, "m", maxTokens: 120, fallback: 500));
        Assert.Equal(30, expected.For("text_generation", null, "m", maxTokens: 30, fallback: 500));
        Assert.Equal(500, expected.For("text_generation", "other step", "m", maxTokens: null, fallback: 500));
    }
}
