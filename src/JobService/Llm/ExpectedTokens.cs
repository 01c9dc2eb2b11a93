using System.Collections.Concurrent;

namespace JobService.Llm;

/// <summary>
/// How many tokens a call will produce, for a progress bar that moves smoothly: the median of the
/// last calls of the same job type, step and model in this process that ended by themselves (one
/// cut off by its max_tokens says only that such an answer is longer), else the
/// request's max_tokens, else Llm:DefaultExpectedTokens; never more than max_tokens. (Expecting
/// max_tokens alone made a bar crawl to 22 % and jump to 100 when the answer was short.)
/// </summary>
public sealed class ExpectedTokens
{
    const int Window = 20;
    readonly ConcurrentDictionary<(string Type, string? Step, string Model), Queue<int>> _recent = new();

    public int For(string type, string? step, string model, int? maxTokens, int fallback)
    {
        var guess = maxTokens ?? fallback;
        if (_recent.TryGetValue((type, step, model), out var recent))
        {
            int[] counts;
            lock (recent) counts = recent.Order().ToArray();
            if (counts.Length > 0) guess = counts[counts.Length / 2];
        }
        return Math.Max(1, maxTokens is { } max ? Math.Min(guess, max) : guess);
    }

    public void Observe(string type, string? step, ChatResult call)
    {
        if (call.Truncated) return; // three calls cut off at 3 tokens held a later job's bar at 98 % for most of its 120
        var recent = _recent.GetOrAdd((type, step, call.Model), _ => new Queue<int>());
        lock (recent)
        {
            recent.Enqueue(call.CompletionTokens);
            if (recent.Count > Window) recent.Dequeue();
        }
    }
}
