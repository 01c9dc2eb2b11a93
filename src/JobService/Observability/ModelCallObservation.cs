using System.ClientModel;
using System.Diagnostics;
using JobService.Hosting;
using JobService.Llm;

namespace JobService.Observability;

/// <summary>
/// One model call as ops see it: a <c>chat {model}</c> span (a child of the job's process span,
/// with the GenAI conventions' attributes), the call counted by outcome, and the GenAI
/// conventions' duration and token histograms. Tokens and cost as billed are counted from the
/// job's usage events instead (<see cref="TransitionMetrics"/>). LlmClient makes one per call.
/// </summary>
public sealed class ModelCallObservation : IDisposable
{
    readonly JobServiceMetrics _metrics;
    readonly Activity? _span;
    readonly long _started = Stopwatch.GetTimestamp();
    readonly TagList _genAi;
    readonly string _type, _model;
    bool _ended;

    public ModelCallObservation(JobServiceMetrics metrics, ModelLabels models, string jobType, string provider, string model, ChatRequest request)
    {
        _metrics = metrics;
        _type = jobType;
        _model = models.For(model);
        _genAi = new TagList
        {
            { "gen_ai.operation.name", "chat" }, { "gen_ai.provider.name", provider }, { "gen_ai.request.model", _model },
        };
        _span = JobTracing.Source.StartActivity($"chat {model}", ActivityKind.Client);
        if (_span is null) return;
        _span.SetTag("gen_ai.operation.name", "chat");
        _span.SetTag("gen_ai.provider.name", provider);
        _span.SetTag("gen_ai.request.model", model);
        if (request.MaxTokens is { } max) _span.SetTag("gen_ai.request.max_tokens", max);
        if (request.Temperature is { } temperature) _span.SetTag("gen_ai.request.temperature", temperature);
        if (request.Step is { } step) _span.SetTag("jobservice.llm.step", step);
    }

    /// <summary>The call answered in full.</summary>
    public void Succeeded(ChatResult result)
    {
        if (_ended) return;
        _ended = true;
        var response = _genAi;
        response.Add("gen_ai.response.model", _model);
        _metrics.GenAiOperationDuration.Record(Stopwatch.GetElapsedTime(_started).TotalSeconds, response);
        var input = response;
        input.Add("gen_ai.token.type", "input");
        var output = response;
        output.Add("gen_ai.token.type", "output");
        _metrics.GenAiTokenUsage.Record(result.PromptTokens, input);
        _metrics.GenAiTokenUsage.Record(result.CompletionTokens, output);
        Count("ok");
        if (_span is null) return;
        _span.SetTag("gen_ai.response.model", result.Model);
        if (result.FinishReason is { } finish) _span.SetTag("gen_ai.response.finish_reasons", new[] { finish });
        _span.SetTag("gen_ai.usage.input_tokens", result.PromptTokens);
        _span.SetTag("gen_ai.usage.output_tokens", result.CompletionTokens);
        _span.Stop(); // before a retry's backoff or the rest of the job: the span is the call alone
    }

    /// <summary>
    /// The call ended with <paramref name="e"/>. Returns false, so that LlmClient can call it from an
    /// exception filter: counted once, before any handler runs, whichever handler then takes it.
    /// </summary>
    public bool Failed(Exception e, CancellationToken job)
    {
        if (_ended) return false;
        _ended = true;
        var outcome = e switch
        {
            OperationCanceledException when job.IsCancellationRequested => "cancelled",
            OperationCanceledException or TimeoutException => "timeout",
            ClientResultException { Status: 429 } => "rate_limited",
            ClientResultException { Status: >= 500 } or BrokenStreamException or IOException => "server_error",
            ClientResultException { Status: 0 } or HttpRequestException => "unavailable", // no answer: refused, unreachable
            _ => "error",
        };
        var tags = _genAi;
        tags.Add("error.type", outcome == "error" ? e.GetType().Name : outcome);
        _metrics.GenAiOperationDuration.Record(Stopwatch.GetElapsedTime(_started).TotalSeconds, tags);
        Count(outcome);
        if (_span is not null)
        {
            _span.SetStatus(ActivityStatusCode.Error, e.Message);
            _span.SetTag("error.type", outcome == "error" ? e.GetType().FullName : outcome);
            _span.Stop();
        }
        return false;
    }

    void Count(string outcome) => _metrics.LlmRequests.Add(1, new TagList { { "type", _type }, { "model", _model }, { "outcome", outcome } });

    public void Dispose() => _span?.Dispose();
}
