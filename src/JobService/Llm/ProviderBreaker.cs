using System.ClientModel;

namespace JobService.Llm;

/// <summary>
/// One model provider's circuit breaker in this process. After <see cref="LlmOptions.BreakerFailures"/>
/// calls in a row, from any of its jobs, got no answer (<see cref="Down"/>), no call goes out for
/// <see cref="LlmOptions.BreakerOpenSeconds"/>: the jobs that would make them are handed back without
/// spending an attempt (<see cref="Handlers.ServiceUnavailableJobException"/>), to run again when it
/// ends. Then one call goes out as the probe (the others wait another window): an answer closes the
/// breaker, no answer opens it again for twice as long, at most ten times the first window. Without
/// it, an outage of a few minutes used up the attempts of every queued job, about 50 s each.
/// </summary>
public sealed class ProviderBreaker(string provider, LlmOptions options, TimeProvider time, ILogger log)
{
    readonly Lock _gate = new();
    readonly TimeSpan _first = TimeSpan.FromSeconds(options.BreakerOpenSeconds);
    int _failures;
    TimeSpan _window;
    DateTime _openUntil, _openedAt;
    bool _probing;
    string _lastFailure = "";

    public bool IsOpen { get { lock (_gate) return Tripped; } }

    bool Tripped => options.BreakerFailures > 0 && _failures >= options.BreakerFailures;

    DateTime Now => time.GetUtcNow().UtcDateTime;

    /// <summary>
    /// Null when a call may go out (the probe's too); otherwise the exception that ends the job's
    /// attempt unspent, to run again when the window ends.
    /// </summary>
    public Handlers.ServiceUnavailableJobException? Refusal(Exception? cause = null)
    {
        lock (_gate)
        {
            if (!Tripped) return null;
            var now = Now;
            if (now < _openUntil)
                return new($"The model provider '{provider}' gave no answer to {_failures} calls in a row (the last: {_lastFailure}); " +
                           $"its calls wait {Math.Ceiling((_openUntil - now).TotalSeconds):0} s", _openUntil - now, cause);
            _probing = true; // this call; the others wait until it answers or another window passes
            _openUntil = now + _window;
            return null;
        }
    }

    /// <summary>The provider answered (any answer, a 400 or a 429 too): the breaker closes.</summary>
    public void Answered()
    {
        lock (_gate)
        {
            if (Tripped) log.LogInformation("The model provider {Provider} answers again, after {Seconds:0} s: its calls go out", provider, (Now - _openedAt).TotalSeconds);
            (_failures, _probing) = (0, false);
        }
    }

    /// <summary>A call got no answer (<paramref name="what"/> says how).</summary>
    public void Failed(string what)
    {
        lock (_gate)
        {
            _failures++;
            _lastFailure = what;
            if (options.BreakerFailures == 0 || _failures < options.BreakerFailures) return;
            if (_failures == options.BreakerFailures)
            {
                (_window, _openedAt, _openUntil) = (_first, Now, Now + _first);
                log.LogWarning("The model provider {Provider} gave no answer to {Failures} calls in a row (the last: {Failure}): its calls stop for {Seconds:0.#} s " +
                               "and their jobs wait without spending an attempt", provider, _failures, what, _window.TotalSeconds);
            }
            else if (_probing) // a call that went out before it opened changes nothing
            {
                _probing = false;
                _window = TimeSpan.FromTicks(Math.Min(_window.Ticks * 2, _first.Ticks * 10));
                _openUntil = Now + _window;
                log.LogInformation("The model provider {Provider} still gives no answer ({Failure}): its calls wait another {Seconds:0.#} s", provider, what, _window.TotalSeconds);
            }
        }
    }

    /// <summary>
    /// No answer: no connection, 408, 5xx, or silence past the provider's timeout (a cancellation
    /// the job did not ask for). A 429 is an answer (the provider is up and says how long to wait),
    /// and so is a stream that broke after it began.
    /// </summary>
    public static bool Down(Exception e, CancellationToken job) => !job.IsCancellationRequested
        && e is OperationCanceledException or HttpRequestException or ClientResultException { Status: 0 or 408 or >= 500 };
}
