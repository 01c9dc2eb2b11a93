using JobService.Data;
using Microsoft.Extensions.Logging;

namespace JobService.Tests.Data;

/// <summary>
/// Regression: through a 17 s outage one worker logged ~1,150 lines: every running job's progress
/// flush, the paused-types read and the webhook claim, each once a second or more.
/// </summary>
public sealed class OutageLogTests
{
    sealed class Lines : ILogger
    {
        public readonly List<(LogLevel Level, string Text)> Written = [];
        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;
        public bool IsEnabled(LogLevel logLevel) => true;
        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter) =>
            Written.Add((logLevel, formatter(state, exception)));
    }

    [Fact]
    public void AnOutageIsOneLineWhenItStartsAndOneWhenItEndsNotOneATry()
    {
        var log = new Lines();
        var outage = new OutageLog(log, "Reading the paused job types");
        var away = new TimeoutException("Timeout during connecting");

        for (var i = 0; i < 50; i++) outage.Failed(away);
        outage.Succeeded();
        outage.Succeeded();
        outage.Failed(away); // a second outage is told again

        Assert.Equal([
            (LogLevel.Warning, "Reading the paused job types failed: Timeout during connecting"),
            (LogLevel.Information, "Reading the paused job types works again"),
            (LogLevel.Warning, "Reading the paused job types failed: Timeout during connecting"),
        ], log.Written);
    }
}
