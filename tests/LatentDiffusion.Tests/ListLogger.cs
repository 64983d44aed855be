using Microsoft.Extensions.Logging;

namespace LatentDiffusion.Tests;

/// <summary>A logger that keeps every formatted message, for tests that read what a component logged.</summary>
internal sealed class ListLogger(List<string> lines) : ILogger
{
    public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

    public bool IsEnabled(LogLevel level) => true;

    public void Log<TState>(LogLevel level, EventId id, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
    {
        lock (lines) lines.Add(formatter(state, exception));
    }
}
