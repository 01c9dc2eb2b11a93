using System.ClientModel;

namespace JobService.Llm;

/// <summary>
/// One model provider's circuit breaker in this process. After <see cref="LlmOptions.BreakerFailures"/>
/// calls in a row got no answer (<see cref="Down"/>), from at least two jobs (one job whose own
/// request fails, a prompt a model cannot take, is not an outage), no call goes out for
/// <see cref="LlmOptions.BreakerOpenSeconds"/>: the jobs that would make them are handed back without
/// spending an attempt (<see cref="Handlers.ServiceUnavailableJobException"/>). When the window
/// ends, the next job's call goes out as the probe, and that job's retries go out too (its attempt
/// is spent as without a breaker if they all fail, so a job that always fails still fails). The
/// first answer closes the breaker (<see cref="Closed"/>: the waiting jobs are made due at once);
/// a probe without an answer opens it again for twice as long, at most ten times the first window.
/// Without it, an outage of a few minutes used up the attempts of every queued job, about 50 s each.
/// </summary>
public sealed class ProviderBreaker(string provider, LlmOptions options, TimeProvider time, ILogger log)
{
    readonly Lock _gate = new();
    readonly TimeSpan _first = TimeSpan.FromSeconds(options.BreakerOpenSeconds);
    int _failures;
    Guid? _firstFailedJob;
    bool _manyJobs, _open, _probeInFlight;
    Guid? _probeJob;
    TimeSpan _window;
    DateTime _openUntil, _openedAt;
    string _lastFailure = "";

    /// <summary>Raised (outside the lock) when an answer closes an open breaker.</summary>
    public event Action<string>? Closed;

    /// <summary>How every refusal's message starts, so that the jobs waiting for this provider can be found by it.</summary>
    public static string MessageStart(string provider) => $"The model provider '{provider}' gave no answer";

    DateTime Now => time.GetUtcNow().UtcDateTime;

    /// <summary>
    /// Null when the job's call may go out (the probe's, and the probe job's retries, too);
    /// otherwise the exception that ends its attempt unspent, due when the wait ends.
    /// </summary>
    public Handlers.ServiceUnavailableJobException? Refusal(Guid job, Exception? cause = null)
    {
        lock (_gate)
        {
            if (!_open) return null;
            var now = Now;
            if (now >= _openUntil)
            {
                (_probeJob, _probeInFlight, _openUntil) = (job, true, now + _window);
                return null;
            }
            if (job == _probeJob) return null; // the probe's retries, within its window
            // While a probe is out, past the window that follows if it gets no answer too: if it
            // answers, the waiting jobs are made due at once (Closed), so waiting longer costs nothing.
            var wait = _openUntil - now + (_probeInFlight ? Next(_window) : TimeSpan.Zero);
            return new($"{MessageStart(provider)} to {_failures} calls in a row (the last: {_lastFailure}); its calls wait {Math.Ceiling(wait.TotalSeconds):0} s",
                wait, cause);
        }
    }

    /// <summary>
    /// The job's model call is over (answered, failed, or its retries used up): a probe job's later
    /// attempts are refused like any other job's (let through, each spent its attempt in one window).
    /// </summary>
    public void CallEnded(Guid job)
    {
        lock (_gate) if (_probeJob == job) (_probeJob, _probeInFlight) = (null, false);
    }

    /// <summary>The provider answered (a token, a whole answer, a 400 or a 429 too): the breaker closes.</summary>
    public void Answered()
    {
        lock (_gate)
        {
            (_failures, _firstFailedJob, _manyJobs, _probeJob, _probeInFlight) = (0, null, false, null, false);
            if (!_open) return;
            _open = false;
            log.LogInformation("The model provider {Provider} answers again, after {Seconds:0} s: its calls go out, and the jobs waiting for it are due now",
                provider, (Now - _openedAt).TotalSeconds);
        }
        Closed?.Invoke(provider);
    }

    /// <summary>A call of <paramref name="job"/> got no answer (<paramref name="what"/> says how).</summary>
    public void Failed(Guid job, string what)
    {
        lock (_gate)
        {
            _lastFailure = what;
            if (_open)
            {
                if (job != _probeJob || !_probeInFlight) return; // a call that went out before, or the probe job's retry
                _probeInFlight = false;
                _window = Next(_window);
                _openUntil = Now + _window;
                log.LogInformation("The model provider {Provider} still gives no answer ({Failure}): its calls wait another {Seconds:0.#} s", provider, what, _window.TotalSeconds);
                return;
            }
            _failures++;
            _firstFailedJob ??= job;
            _manyJobs |= job != _firstFailedJob;
            if (options.BreakerFailures == 0 || _failures < options.BreakerFailures || !_manyJobs) return;
            (_open, _window, _openedAt, _openUntil) = (true, _first, Now, Now + _first);
            log.LogWarning("The model provider {Provider} gave no answer to {Failures} calls in a row (the last: {Failure}): its calls stop for {Seconds:0.#} s " +
                           "and their jobs wait without spending an attempt", provider, _failures, what, _window.TotalSeconds);
        }
    }

    TimeSpan Next(TimeSpan window) => TimeSpan.FromTicks(Math.Min(window.Ticks * 2, _first.Ticks * 10));

    /// <summary>
    /// No answer: no connection, 408, 5xx, or silence past the provider's timeout (a cancellation
    /// the job did not ask for: the caller leaves those out). A 429 is an answer (the provider is up and says how long to wait),
    /// and so is a stream that broke after it began.
    /// </summary>
    public static bool Down(Exception e) => e is OperationCanceledException or HttpRequestException or ClientResultException { Status: 0 or 408 or >= 500 };
}
