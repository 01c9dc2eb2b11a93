using System.ClientModel;
using System.ClientModel.Primitives;
using OpenAI;
using OpenAI.Chat;

namespace JobService.Llm;

/// <summary>
/// Streams one chat completion from an OpenAI-compatible endpoint through the official OpenAI
/// SDK. The SDK's own retries are off: <see cref="LlmClient"/> retries with Polly, honouring
/// Retry-After, and reports each retry on the job.
/// </summary>
public sealed class OpenAiChatBackend(string name, LlmProviderOptions provider)
{
    readonly OpenAIClient _client = new(
        new ApiKeyCredential(string.IsNullOrEmpty(provider.ApiKey) ? "no-key" : provider.ApiKey),
        new OpenAIClientOptions
        {
            Endpoint = new Uri(provider.BaseUrl),
            NetworkTimeout = TimeSpan.FromSeconds(provider.TimeoutSeconds),
            RetryPolicy = new ClientRetryPolicy(maxRetries: 0),
        });

    public string Name => name;
    public string? DefaultModel => provider.DefaultModel;

    /// <summary>Calls <paramref name="onText"/> per content chunk; returns the server's usage when it sent one.</summary>
    public async Task<ChatTokenUsage?> StreamAsync(ChatRequest request, string model, Func<string, ValueTask> onText, CancellationToken ct)
    {
        var chat = _client.GetChatClient(model);
        var options = new ChatCompletionOptions { MaxOutputTokenCount = request.MaxTokens, Temperature = (float?)request.Temperature };
        if (request.JsonSchema is not null) options.ResponseFormat = ChatResponseFormat.CreateJsonObjectFormat();
        ChatTokenUsage? usage = null;
        await foreach (var update in chat.CompleteChatStreamingAsync(request.Messages.Select(ToSdk), options, ct))
        {
            foreach (var part in update.ContentUpdate)
                if (!string.IsNullOrEmpty(part.Text)) await onText(part.Text);
            if (update.Usage is not null) usage = update.Usage;
        }
        return usage;
    }

    static ChatMessage ToSdk(ChatMessageSpec m) => m.Role switch
    {
        "system" => new SystemChatMessage(m.Content),
        "assistant" => new AssistantChatMessage(m.Content),
        _ => new UserChatMessage(m.Content),
    };
}
