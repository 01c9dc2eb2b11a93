using System.ClientModel;
using System.ClientModel.Primitives;
using OpenAI;
using OpenAI.Chat;

namespace JobService.Llm;

/// <summary>How a stream ended: the provider's usage when it sent one, and its finish reason (null: it never said).</summary>
public sealed record StreamOutcome(int? PromptTokens, int? CompletionTokens, string? FinishReason);

/// <summary>
/// Streams one chat completion from an OpenAI-compatible endpoint through the official OpenAI
/// SDK. The SDK's own retries are off: <see cref="LlmClient"/> makes every retry, so that its
/// timeout (the provider's TimeoutSeconds: for the answer to begin, then for each read) is per
/// request and never spans a retry's wait.
/// </summary>
public sealed class OpenAiChatBackend(string name, LlmProviderOptions provider, IHttpClientFactory http)
{
    /// <summary>
    /// How long a stream is read after its finish chunk, for the usage chunk that may follow. An
    /// answer whose [DONE] never came waited out the provider's silence timeout (600 s) before it
    /// was kept.
    /// </summary>
    public static readonly TimeSpan AfterFinish = TimeSpan.FromSeconds(5);

    readonly ApiKeyCredential _key = new(string.IsNullOrEmpty(provider.ApiKey) ? "no-key" : provider.ApiKey);

    public string Name => name;
    public string? DefaultModel => provider.DefaultModel;
    public int TimeoutSeconds => provider.TimeoutSeconds;

    /// <summary>Calls <paramref name="onText"/> per content chunk.</summary>
    public async Task<StreamOutcome> StreamAsync(ChatRequest request, string model, Func<string, ValueTask> onText, CancellationToken ct)
    {
        // A client per call: IHttpClientFactory rotates its handlers (DNS changes reach a long-running worker).
        var client = new OpenAIClient(_key, new OpenAIClientOptions
        {
            Endpoint = new Uri(provider.BaseUrl),
            NetworkTimeout = TimeSpan.FromSeconds(provider.TimeoutSeconds),
            RetryPolicy = new ClientRetryPolicy(maxRetries: 0),
            Transport = new HttpClientPipelineTransport(http.CreateClient(LlmSetup.HttpClientName)),
        });
        var options = new ChatCompletionOptions { MaxOutputTokenCount = request.MaxTokens, Temperature = (float?)request.Temperature };
        if (request.JsonSchema is not null) options.ResponseFormat = ChatResponseFormat.CreateJsonObjectFormat();
        ChatTokenUsage? usage = null;
        string? finish = null;
        using var tail = CancellationTokenSource.CreateLinkedTokenSource(ct);
        try
        {
            await foreach (var update in client.GetChatClient(model).CompleteChatStreamingAsync(request.Normalized().Select(ToSdk), options, tail.Token))
            {
                foreach (var part in update.ContentUpdate)
                    if (!string.IsNullOrEmpty(part.Text)) await onText(part.Text);
                if (update.FinishReason is { } reason && finish is null)
                {
                    finish = Wire(reason);
                    tail.CancelAfter(AfterFinish);
                }
                if (update.Usage is not null) usage = update.Usage;
                if (finish is not null && usage is not null) break; // the whole answer: only [DONE] is left to come
            }
        }
        catch (Exception) when (finish is not null && !ct.IsCancellationRequested)
        {
            // The answer had finished: only its usage chunk or [DONE] was lost with the connection, or
            // did not come in AfterFinish. The text is whole, so it is kept (usage counted, estimated
            // when it never came), not paid for twice.
        }
        return new StreamOutcome(usage?.InputTokenCount, usage?.OutputTokenCount, finish);
    }

    static string Wire(ChatFinishReason reason) => reason switch
    {
        ChatFinishReason.Stop => "stop",
        ChatFinishReason.Length => "length",
        ChatFinishReason.ContentFilter => "content_filter",
        ChatFinishReason.ToolCalls => "tool_calls",
        ChatFinishReason.FunctionCall => "function_call",
        _ => reason.ToString().ToLowerInvariant(),
    };

    static ChatMessage ToSdk(ChatMessageSpec m) => m.Role switch
    {
        "system" => new SystemChatMessage(m.Content),
        "assistant" => new AssistantChatMessage(m.Content),
        _ => new UserChatMessage(m.Content),
    };
}
