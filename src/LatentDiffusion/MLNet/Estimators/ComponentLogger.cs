using Microsoft.Extensions.Logging;
using Microsoft.ML;
using Microsoft.ML.Runtime;

namespace LatentDiffusion.MLNet.Estimators;

/// <summary>
/// Sends each message both to the user's <see cref="ILogger"/> and to <see cref="MLContext.Log"/> (through a channel
/// of the context, the only public way in), so progress shows up wherever an ML.NET user already listens.
/// </summary>
internal sealed class ComponentLogger : ILogger, IDisposable
{
    private readonly ILogger? user;
    private readonly IChannel? channel;

    public ComponentLogger(IChannelProvider? context, ILogger? user, string component)
    {
        this.user = user;
        channel = context?.Start(component);
    }

    public IDisposable? BeginScope<TState>(TState state) where TState : notnull => user?.BeginScope(state);

    public bool IsEnabled(LogLevel logLevel) => logLevel != LogLevel.None;

    public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
    {
        if (user?.IsEnabled(logLevel) == true) user.Log(logLevel, eventId, state, exception, formatter);
        if (channel is null) return;
        string message = formatter(state, exception);
        switch (logLevel)
        {
            case LogLevel.Trace or LogLevel.Debug: channel.Trace(MessageSensitivity.None, message); break;
            case LogLevel.Information: channel.Info(MessageSensitivity.None, message); break;
            case LogLevel.Warning: channel.Warning(MessageSensitivity.None, message); break;
            case LogLevel.Error or LogLevel.Critical: channel.Error(MessageSensitivity.None, message); break;
        }
    }

    public void Dispose() => channel?.Dispose();
}
