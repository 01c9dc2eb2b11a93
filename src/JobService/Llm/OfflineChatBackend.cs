using System.Security.Cryptography;
using System.Text;
using System.Text.Json.Nodes;

namespace JobService.Llm;

/// <summary>
/// The provider used when none is configured, so that the service runs out of the box: it
/// answers deterministically (the same request, the same answer), text or JSON valid against
/// the requested schema, word by word at <see cref="OfflineOptions.TokensPerSecond"/>, so that
/// a poller watches real progress. Its model is "offline", and every job's usage says so.
/// </summary>
public sealed class OfflineChatBackend(OfflineOptions options, TimeProvider time)
{
    public const string Model = "offline";

    static readonly string[] Words =
    [
        "amber", "archive", "beacon", "bridge", "cinder", "citadel", "compass", "delta", "ember", "falcon",
        "garden", "harbor", "iron", "juniper", "lantern", "meadow", "nomad", "oracle", "quartz", "river",
        "saffron", "summit", "thistle", "tide", "umber", "valley", "willow", "zephyr",
    ];

    /// <summary>Streams the answer token by token; like a model, it stops at max_tokens (finish "length").</summary>
    public async Task<StreamOutcome> StreamAsync(ChatRequest request, Func<string, ValueTask> onText, CancellationToken ct)
    {
        var seed = Seed(request);
        var answer = request.JsonSchema is null
            ? Text(seed, request.MaxTokens ?? options.TextTokens, request.Messages[^1].Content)
            : OfflineJson.Answer(request.JsonSchema, seed).ToJsonString();
        var tokens = Tokens(answer).ToList();
        var cut = request.MaxTokens is { } max && tokens.Count > max;
        if (cut) tokens = tokens[..request.MaxTokens!.Value];
        var pause = TimeSpan.FromSeconds(1 / options.TokensPerSecond);
        foreach (var token in tokens)
        {
            await Task.Delay(pause, time, ct); // the offline provider's pace: tokens arrive as from a model
            await onText(token);
        }
        return new StreamOutcome(null, null, cut ? "length" : "stop");
    }

    /// <summary>Splits an answer into tokens that join back into it exactly.</summary>
    static IEnumerable<string> Tokens(string answer)
    {
        for (int start = 0, i = 1; i <= answer.Length; i++)
            if (i == answer.Length || answer[i] == ' ')
            {
                yield return answer[start..i];
                start = i;
            }
    }

    static string Text(Random seed, int tokens, string prompt)
    {
        var topic = prompt.Length <= 60 ? prompt : prompt[..60] + "…";
        var words = new StringBuilder($"(Offline answer to \"{topic}\".)");
        var left = tokens - Tokens(words.ToString()).Count(); // each word below is one token: the answer fits max_tokens
        for (var i = 0; i < Math.Max(left, 1); i++)
            words.Append(i % 12 == 11 ? ". " : " ").Append(Words[seed.Next(Words.Length)]);
        return words.Append('.').ToString();
    }

    static Random Seed(ChatRequest request)
    {
        var text = string.Join("\n", request.Messages.Select(m => m.Role + ":" + m.Content)) + request.JsonSchema?.ToJsonString();
        return new Random(BitConverter.ToInt32(SHA256.HashData(Encoding.UTF8.GetBytes(text)), 0));
    }
}
