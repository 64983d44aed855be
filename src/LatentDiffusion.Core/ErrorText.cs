namespace LatentDiffusion;

/// <summary>
/// An inner failure's message as one line, for an error that wraps it: an <see cref="ArgumentException"/>'s message
/// without the " (Parameter '...')" the runtime appends and the "Actual value was ..." line of an
/// <see cref="ArgumentOutOfRangeException"/> (the library's messages already name the option and the value), any
/// other message with its line breaks folded into spaces.
/// </summary>
public static class ErrorText
{
    /// <summary>The message of <paramref name="error"/> as one line.</summary>
    public static string OneLine(Exception error)
    {
        ArgumentNullException.ThrowIfNull(error);
        string message = error.Message;
        if (error is ArgumentException { ParamName: { } name })
        {
            int lineBreak = message.IndexOf('\n', StringComparison.Ordinal);
            if (error is ArgumentOutOfRangeException && lineBreak >= 0) message = message[..lineBreak];
            string suffix = $" (Parameter '{name}')";
            if (message.EndsWith(suffix, StringComparison.Ordinal)) message = message[..^suffix.Length];
        }
        return string.Join(' ', message.Split(['\r', '\n'], StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries));
    }
}
