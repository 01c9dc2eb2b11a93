using System.ClientModel;
using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.Json;
using JobService.Handlers;
using Microsoft.Extensions.Options;

namespace JobService.Llm;

/// <summary>
/// Runs one chat completion for a job: picks the provider and model, streams the answer so that
/// progress is real (tokens received against tokens expected, capped below 100 until the job
/// completes) and watchers see the text grow, and records what the call spent, even when it was
/// cancelled or broke (then counted and marked estimated). Every retry inside the attempt is made
/// here, in one place that sees all of them: HTTP 408, 429 and 5xx (Retry-After honoured), a failed
/// connection, and a stream that breaks after it began (no finish reason, an error event, a dropped
/// connection, a chunk that is not JSON, silence past the provider's timeout, which the SDK measures
/// per request and per read). 400/401/403/404/422 fail the job at once. Each call and each retry is
/// told in the job's log. A provider that gives no answer to many calls in a row stops being called
/// for a while (<see cref="ProviderBreaker"/>), and the jobs that would call it wait unspent.
/// </summary>
public sealed class LlmClient
{
    readonly LlmOptions _options;
    readonly TimeProvider _time;
    readonly ExpectedTokens _expected;
    readonly Hosting.JobServiceMetrics _metrics;
    readonly Observability.ModelLabels _models;
    readonly Transitions.JobTransitions _transitions;
    readonly ILogger _log;
    readonly Dictionary<string, OpenAiChatBackend> _providers;
    readonly Dictionary<string, ProviderBreaker> _breakers;
    readonly OfflineChatBackend _offline;

    public LlmClient(IOptions<LlmOptions> options, TimeProvider time, IHttpClientFactory http, ExpectedTokens expected,
        Hosting.JobServiceMetrics metrics, Observability.ModelLabels models, Transitions.JobTransitions transitions, ILogger<LlmClient> log)
    {
        (_options, _time, _expected, _metrics, _models, _transitions, _log) = (options.Value, time, expected, metrics, models, transitions, log);
        _providers = _options.Providers.ToDictionary(p => p.Key, p => new OpenAiChatBackend(p.Key, p.Value, http), StringComparer.Ordinal);
        _breakers = _options.Providers.ToDictionary(p => p.Key, p => new ProviderBreaker(p.Key, _options, time, log), StringComparer.Ordinal);
        foreach (var breaker in _breakers.Values) breaker.Closed += provider => _ = ReleaseWaitingAsync(provider);
        _offline = new(_options.Offline, time);
    }

    /// <summary>The jobs that waited for a provider whose breaker just closed are due now, not at the end of their wait.</summary>
    async Task ReleaseWaitingAsync(string provider)
    {
        try
        {
            var released = await _transitions.ReleaseWaitingAsync(ProviderBreaker.MessageStart(provider), CancellationToken.None);
            if (released > 0) _log.LogInformation("{Count} job(s) that waited for the model provider {Provider} are due now", released, provider);
        }
        catch (Exception e)
        {
            _log.LogWarning("Making the jobs that wait for the model provider {Provider} due failed ({Error}); each runs when its wait ends",
                provider, Data.DatabaseErrors.OneLine(e));
        }
    }

    /// <summary>The provider's breaker (<see cref="ProviderBreaker"/>); the offline provider has none.</summary>
    public ProviderBreaker? BreakerOf(string provider) => _breakers.GetValueOrDefault(provider);

    public async Task<ChatResult> CompleteAsync(ChatRequest request, IJobContext job, ProgressSpan span)
    {
        var provider = Resolve(request);
        var (providerName, model) = provider is null
            ? ("offline", OfflineChatBackend.Model)
            : (provider.Name, request.Model ?? provider.DefaultModel
                ?? throw new NonRetryableJobException($"No model: the job names none and provider '{provider.Name}' has no DefaultModel."));
        var breaker = BreakerOf(providerName);
        if (breaker?.Refusal(job.JobId) is { } down) throw Held(down, providerName); // before a word of a call that is not made
        try
        {
            var expect = _expected.For(job.Type, request.Step, model, request.MaxTokens, _options.DefaultExpectedTokens);
            await job.LogAsync(JobLogLevel.Info, $"Calling {model} via {providerName}{(request.Step is null ? "" : $" ({request.Step})")}: " +
                                                $"{request.Messages.Count} message(s), expecting about {expect} tokens");
            await job.ReportProgressAsync(span.From, $"{span.Prefix}Waiting for {model}…");
            return await CallWithRetriesAsync(request, job, span, provider, providerName, model, expect, breaker);
        }
        finally
        {
            breaker?.CallEnded(job.JobId);
        }
    }

    async Task<ChatResult> CallWithRetriesAsync(ChatRequest request, IJobContext job, ProgressSpan span, OpenAiChatBackend? provider,
        string providerName, string model, int expect, ProviderBreaker? breaker)
    {
        var ct = job.CancellationToken;
        for (var retry = 0; ; retry++)
        {
            if (retry > 0 && breaker?.Refusal(job.JobId) is { } refused) throw Held(refused, providerName);
            var call = new Call(this, request, job, span, expect, providerName, model, retry, breaker);
            using var observed = new Observability.ModelCallObservation(_metrics, _models, job.Type, providerName, model, request);
            try
            {
                var outcome = provider is null
                    ? await _offline.StreamAsync(request, call.OnText, ct)
                    : await provider.StreamAsync(request, model, call.OnText, ct);
                if (outcome.FinishReason is null)
                    throw new BrokenStreamException($"The stream ended after {call.Chunks} tokens without a finish reason (cut off, or an error event)");
                var result = await call.RecordAsync(outcome, estimated: outcome.CompletionTokens is null);
                observed.Succeeded(result);
                breaker?.Answered();
                _expected.Observe(job.Type, request.Step, result);
                return result;
            }
            catch (Exception e) when (observed.Failed(e, ct) || Tell(breaker, job.JobId, e, ct, call.Chunks, provider)) // counts the call's outcome; never true, so never taken
            {
                throw;
            }
            catch (ClientResultException e) when (e.Status is 400 or 401 or 403 or 404 or 422)
            {
                await call.RecordSpentAsync();
                throw new NonRetryableJobException($"The provider '{providerName}' refused the request ({e.Status}): {e.Message}", e);
            }
            catch (Exception e) when (Retryable(e, ct) && breaker?.Refusal(job.JobId, e) is { } opened) // its breaker opened: the job waits unspent
            {
                await call.RecordSpentAsync();
                throw Held(opened, providerName);
            }
            catch (Exception e) when (Retryable(e, ct) && retry < _options.MaxRetries && !(RetryAfter(e) > MaxRetryWait))
            {
                await call.RecordSpentAsync();
                var delay = RetryAfter(e) ?? Backoff(retry);
                var why = $"{Describe(e, call.Chunks, provider)}; retry {retry + 1} in {delay.TotalSeconds:0.##} s";
                await job.LogAsync(JobLogLevel.Warning, why);
                await job.ReportProgressAsync(span.From, $"{span.Prefix}Waiting for {model}: {why}"); // the bar holds; the line says why it waits
                await Task.Delay(delay, _time, ct);
            }
            catch (Exception e) when (Retryable(e, ct) && RetryAfter(e) is { } after && after > TimeSpan.Zero)
            {
                // A wait past what a call waits within an attempt, or the last retry's: the attempt ends,
                // and the job's retry comes no sooner than the provider asked (it waited out the job's
                // timeout in the call, then retried at once, the provider's word forgotten).
                await call.RecordSpentAsync();
                throw new RetryAfterJobException($"{Describe(e, call.Chunks, provider)} and asked to wait {after.TotalSeconds:0} s (Retry-After)", after, e);
            }
            catch (Exception e) when (Unreachable(e) && !ct.IsCancellationRequested)
            {
                // Out of retries: the job's error says what a tenant may read (the .NET message names the provider's host and port).
                await call.RecordSpentAsync();
                throw new HttpRequestException((e as HttpRequestException ?? e.InnerException as HttpRequestException)?.HttpRequestError ?? HttpRequestError.Unknown,
                    Describe(e, call.Chunks, provider), e);
            }
            catch
            {
                await call.RecordSpentAsync(); // cancelled, or out of retries: what it spent is still on the bill
                throw;
            }
        }
    }

    /// <summary>A call not made because its provider's breaker is open: counted, and the attempt ends unspent.</summary>
    Exception Held(ServiceUnavailableJobException refused, string provider)
    {
        _metrics.LlmCallsHeld.Add(1, new KeyValuePair<string, object?>("provider", provider));
        return refused;
    }

    /// <summary>Tells the provider's breaker how a call ended (not when the job itself stopped it); never true.</summary>
    static bool Tell(ProviderBreaker? breaker, Guid jobId, Exception e, CancellationToken job, int tokens, OpenAiChatBackend? provider)
    {
        if (breaker is null || job.IsCancellationRequested) return false;
        // A call that streamed tokens was answered (told at its first), however it ended after.
        if (tokens == 0 && ProviderBreaker.Down(e)) breaker.Failed(jobId, Describe(e, tokens, provider));
        else breaker.Answered();
        return false;
    }

    /// <summary>
    /// Worth asking again within the attempt, and not cancelled by the job: an answer that says
    /// "later" (408, 429, 5xx), no answer (a failed connection: status 0), or a stream that broke.
    /// </summary>
    static bool Retryable(Exception e, CancellationToken job) => !job.IsCancellationRequested && (e is OperationCanceledException || NoAnswer(e));

    /// <summary>
    /// The provider gave no usable answer: no connection, an answer that says "later" (408, 429,
    /// 5xx), or a stream that broke. What a call's retries end with when the provider is down; not
    /// a silence past its timeout (a cancellation, like the job's own timeout).
    /// </summary>
    public static bool NoAnswer(Exception e) => e is BrokenStreamException or IOException or HttpRequestException or JsonException
        or ClientResultException { Status: 0 or 408 or 429 or >= 500 };

    static string Describe(Exception e, int tokens, OpenAiChatBackend? provider) => e switch
    {
        ClientResultException { Status: > 0 } c => $"The provider answered HTTP {c.Status}",
        BrokenStreamException => $"The stream broke after {tokens} token(s)",
        JsonException => $"The stream broke after {tokens} token(s): a chunk that is not JSON ({e.Message.Clip(200)})",
        IOException => $"The stream broke after {tokens} token(s) ({e.Message.Clip(200)})",
        OperationCanceledException => $"The provider went silent past its timeout ({provider?.TimeoutSeconds} s) after {tokens} token(s)",
        _ when Unreachable(e) => $"The provider '{provider?.Name}' could not be reached ({WhyUnreached(e)})",
        _ => $"The request failed ({(e.InnerException ?? e).Message.Clip(200)})",
    };

    /// <summary>No connection to the provider (the SDK reports it as a status 0 around .NET's HttpRequestException).</summary>
    static bool Unreachable(Exception e) => e is HttpRequestException or ClientResultException { Status: 0, InnerException: HttpRequestException };

    /// <summary>Why, without the provider's address (.NET's message names the host and port, and a tenant reads the job's log): the socket's error, else the request's.</summary>
    static string WhyUnreached(Exception e)
    {
        for (var x = e; x is not null; x = x.InnerException)
            if (x is System.Net.Sockets.SocketException s) return s.SocketErrorCode.ToString();
        for (var x = e; x is not null; x = x.InnerException)
            if (x is HttpRequestException { HttpRequestError: not HttpRequestError.Unknown } h) return h.HttpRequestError.ToString();
        return "no connection";
    }

    /// <summary>The longest Retry-After a call waits out within the attempt (Llm:MaxRetryWaitSeconds); a longer one ends the attempt.</summary>
    TimeSpan MaxRetryWait => TimeSpan.FromSeconds(_options.MaxRetryWaitSeconds);

    /// <summary>What the provider's Retry-After asks for (seconds or an HTTP date), if it sent one; at most a day.</summary>
    TimeSpan? RetryAfter(Exception e)
    {
        if (e is not ClientResultException c || c.GetRawResponse() is not { } response
            || !response.Headers.TryGetValue("Retry-After", out var value) || value is null) return null;
        TimeSpan? after = long.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out var seconds)
            ? TimeSpan.FromSeconds(Math.Min(seconds, RetryAfterJobException.MaxAfter.TotalSeconds))
            : DateTimeOffset.TryParseExact(value.Trim(), "r", CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out var at)
                ? TimeSpan.FromTicks(Math.Max(0, (at - _time.GetUtcNow()).Ticks))
                : null;
        return after > RetryAfterJobException.MaxAfter ? RetryAfterJobException.MaxAfter : after;
    }

    /// <summary>Doubling from Llm:RetryBaseSeconds, with ±20 % jitter.</summary>
    TimeSpan Backoff(int retry) =>
        TimeSpan.FromSeconds(_options.RetryBaseSeconds * Math.Pow(2, retry) * (0.8 + 0.4 * Random.Shared.NextDouble()));

    /// <summary>The provider a request resolves to, or null for the offline provider.</summary>
    OpenAiChatBackend? Resolve(ChatRequest request)
    {
        var name = request.Provider ?? _options.DefaultProvider ?? _providers.Keys.FirstOrDefault();
        if (name is null || name == "offline") return null;
        return _providers.GetValueOrDefault(name) ?? throw new NonRetryableJobException(UnknownProvider(name, _providers.Keys));
    }

    /// <summary>What a job naming a provider not configured is told: at submit (a 400), or when it runs (a failure, not retried).</summary>
    public static string UnknownProvider(string name, IEnumerable<string> configured) =>
        $"Unknown LLM provider '{name.Clip(100)}'. Configured: {string.Join(", ", configured.Where(n => n != "offline").Append("offline"))}.";

    double Cost(string model, int prompt, int completion) =>
        _options.Prices.TryGetValue(model, out var price)
            ? Api.UsdJson.Round(prompt / 1e6 * price.InputPerMillion + completion / 1e6 * price.OutputPerMillion)
            : 0;

    /// <summary>
    /// How far along a call is, 0 to 0.99: the tokens received against those expected, straight up to
    /// 80 %; past that the bar slows and keeps moving, approaching 99 % as the answer runs to many
    /// times what was expected (the bar at twice 88 %, ten times 92 %, a hundred times 94 %). Capped, an
    /// answer longer than expected sat at 99 % for most of its run.
    /// </summary>
    internal static double Share(int received, int expected)
    {
        var x = (double)received / expected;
        return x <= 0.8 ? x : 0.8 + 0.19 * (1 - 1 / (1 + Math.Log(x / 0.8)));
    }

    /// <summary>One HTTP call of a completion: its text as it streams, and what it spent.</summary>
    sealed class Call(LlmClient client, ChatRequest request, IJobContext job, ProgressSpan span, int expected, string provider, string model, int retry,
        ProviderBreaker? breaker)
    {
        readonly StringBuilder _text = new();
        readonly long _started = Stopwatch.GetTimestamp();
        double? _firstToken;
        bool _recorded;

        public int Chunks { get; private set; }

        public async ValueTask OnText(string piece)
        {
            if (_firstToken is null) breaker?.Answered(); // the provider answers: a probe need not finish a long answer to say so
            _firstToken ??= Stopwatch.GetElapsedTime(_started).TotalMilliseconds;
            job.StreamText(piece, newCall: Chunks == 0);
            _text.Append(piece);
            Chunks++; // one streamed chunk is one token for OpenAI-compatible servers
            job.ReportTokens(Chunks, expected);
            var share = Share(Chunks, expected);
            // A retry's text and token count start again while the bar holds (it never goes down while the job runs): the message says why.
            await job.ReportProgressAsync(span.From + (span.To - span.From) * share,
                retry == 0 ? $"{span.Prefix}Generating… {Chunks} tokens" : $"{span.Prefix}Generating… {Chunks} tokens (retry {retry})");
        }

        public async Task<ChatResult> RecordAsync(StreamOutcome outcome, bool estimated)
        {
            // Without a usage chunk, count: ~4 characters a token for the prompt, chunks for the answer.
            var prompt = outcome.PromptTokens ?? request.Messages.Sum(m => m.Content.Length) / 4 + 1;
            var completion = outcome.CompletionTokens ?? Chunks;
            var cost = client.Cost(model, prompt, completion);
            _recorded = true;
            await job.RecordUsageAsync(new UsageRecord(prompt, completion, cost)
            {
                Model = model, Provider = provider, Step = request.Step, Estimated = estimated, FinishReason = outcome.FinishReason,
                Repairs = request.Repair > 0 && outcome.FinishReason is not null ? 1 : 0, // a broken call's retry is the same repair
                DurationMs = Stopwatch.GetElapsedTime(_started).TotalMilliseconds, TimeToFirstTokenMs = _firstToken,
            });
            return new ChatResult(_text.ToString(), provider, model, prompt, completion, cost) { FinishReason = outcome.FinishReason };
        }

        /// <summary>A call that did not finish: its prompt was read and its tokens made, so they are recorded, estimated.</summary>
        public async Task RecordSpentAsync()
        {
            if (_recorded || Chunks == 0) return;
            try { await RecordAsync(new StreamOutcome(null, null, null), estimated: true); }
            catch (Exception) { } // the lease may be gone: nothing more to say
        }
    }
}
