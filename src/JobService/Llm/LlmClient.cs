using System.ClientModel;
using System.Text;
using JobService.Handlers;
using Microsoft.Extensions.Options;
using Polly;
using Polly.Retry;

namespace JobService.Llm;

/// <summary>
/// Runs one chat completion for a job: picks the provider and model, streams the answer so
/// that progress is real (tokens received against tokens expected, capped below 100 until the
/// job completes), retries 429, 5xx and dropped connections with backoff that honours
/// Retry-After, fails 400/401/403/404 at once, and records tokens and cost on the job.
/// Cancelling the job cancels the HTTP request.
/// </summary>
public sealed class LlmClient
{
    readonly LlmOptions _options;
    readonly TimeProvider _time;
    readonly Dictionary<string, OpenAiChatBackend> _providers;
    readonly OfflineChatBackend _offline;

    public LlmClient(IOptions<LlmOptions> options, TimeProvider time)
    {
        _options = options.Value;
        _time = time;
        _providers = _options.Providers.ToDictionary(p => p.Key, p => new OpenAiChatBackend(p.Key, p.Value), StringComparer.Ordinal);
        _offline = new OfflineChatBackend(_options.Offline, time);
    }

    public async Task<ChatResult> CompleteAsync(ChatRequest request, IJobContext job, ProgressSpan span)
    {
        var ct = job.CancellationToken;
        var text = new StringBuilder();
        var chunks = 0;
        var expected = Math.Max(request.MaxTokens ?? _options.DefaultExpectedTokens, 1);
        async ValueTask OnText(string piece)
        {
            text.Append(piece);
            chunks++; // one streamed chunk is one token for OpenAI-compatible servers
            var share = Math.Min((double)chunks / expected, 0.99);
            await job.ReportProgressAsync(span.From + (span.To - span.From) * share, $"{span.Prefix}Generating… {chunks} tokens");
        }

        string providerName, model;
        int? promptTokens = null, completionTokens = null;
        if (Resolve(request) is { } provider)
        {
            providerName = provider.Name;
            model = request.Model ?? provider.DefaultModel
                ?? throw new NonRetryableJobException($"No model: the job names none and provider '{provider.Name}' has no DefaultModel.");
            await job.ReportProgressAsync(span.From, $"{span.Prefix}Waiting for {model}…");
            var usage = await Retrying(job).ExecuteAsync(async token =>
            {
                text.Clear();
                chunks = 0;
                try
                {
                    return await provider.StreamAsync(request, model, OnText, token);
                }
                catch (ClientResultException e) when (e.Status is 400 or 401 or 403 or 404 or 422)
                {
                    throw new NonRetryableJobException($"The provider '{provider.Name}' refused the request ({e.Status}): {e.Message}", e);
                }
            }, ct);
            (promptTokens, completionTokens) = (usage?.InputTokenCount, usage?.OutputTokenCount);
        }
        else
        {
            (providerName, model) = ("offline", OfflineChatBackend.Model);
            await _offline.StreamAsync(request, OnText, ct);
        }

        // Without a usage chunk, count: ~4 characters a token for the prompt, chunks for the answer.
        var prompt = promptTokens ?? request.Messages.Sum(m => m.Content.Length) / 4 + 1;
        var completion = completionTokens ?? chunks;
        var cost = Cost(model, prompt, completion);
        await job.RecordUsageAsync(prompt, completion, cost);
        return new ChatResult(text.ToString(), providerName, model, prompt, completion, cost);
    }

    /// <summary>The provider a request resolves to, or null for the offline provider.</summary>
    OpenAiChatBackend? Resolve(ChatRequest request)
    {
        var name = request.Provider ?? _options.DefaultProvider ?? _providers.Keys.FirstOrDefault();
        if (name is null || name == "offline") return null;
        return _providers.GetValueOrDefault(name)
            ?? throw new NonRetryableJobException($"Unknown LLM provider '{name}'. Configured: {string.Join(", ", _providers.Keys.Append("offline"))}.");
    }

    double Cost(string model, int prompt, int completion) =>
        _options.Prices.TryGetValue(model, out var price)
            ? prompt / 1e6 * price.InputPerMillion + completion / 1e6 * price.OutputPerMillion
            : 0;

    ResiliencePipeline<OpenAI.Chat.ChatTokenUsage?> Retrying(IJobContext job) =>
        new ResiliencePipelineBuilder<OpenAI.Chat.ChatTokenUsage?> { TimeProvider = _time }
            .AddRetry(new RetryStrategyOptions<OpenAI.Chat.ChatTokenUsage?>
            {
                MaxRetryAttempts = _options.MaxRetries,
                BackoffType = DelayBackoffType.Exponential,
                UseJitter = true,
                Delay = TimeSpan.FromSeconds(_options.RetryBaseSeconds),
                ShouldHandle = new PredicateBuilder<OpenAI.Chat.ChatTokenUsage?>()
                    .Handle<ClientResultException>(e => e.Status is 429 or >= 500 or 0)
                    .Handle<HttpRequestException>()
                    .Handle<IOException>()
                    .Handle<OperationCanceledException>(_ => !job.CancellationToken.IsCancellationRequested), // a network timeout
                DelayGenerator = args => ValueTask.FromResult(RetryAfter(args.Outcome.Exception)),
                OnRetry = async args =>
                {
                    var why = args.Outcome.Exception is ClientResultException { Status: > 0 } e
                        ? $"The provider answered HTTP {e.Status}"
                        : $"The request failed ({args.Outcome.Exception?.Message})";
                    // The job's log line also goes to the service log, with the job's id.
                    await job.LogAsync(JobLogLevel.Warning, $"{why}; retry {args.AttemptNumber + 1} in {args.RetryDelay.TotalSeconds:0.##} s");
                },
            })
            .Build();

    /// <summary>Retry-After in seconds or as an HTTP date; null lets Polly's backoff decide.</summary>
    TimeSpan? RetryAfter(Exception? e)
    {
        if (e is not ClientResultException result || result.GetRawResponse() is not { } response) return null;
        if (!response.Headers.TryGetValue("Retry-After", out var value) || value is null) return null;
        if (double.TryParse(value, System.Globalization.CultureInfo.InvariantCulture, out var seconds)) return TimeSpan.FromSeconds(Math.Max(seconds, 0));
        if (DateTimeOffset.TryParse(value, System.Globalization.CultureInfo.InvariantCulture, out var at)) return at - _time.GetUtcNow();
        return null;
    }
}
