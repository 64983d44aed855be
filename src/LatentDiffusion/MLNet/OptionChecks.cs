namespace LatentDiffusion.MLNet;

/// <summary>
/// One check per option: each failure is an <see cref="ArgumentOutOfRangeException"/> whose ParamName is the option,
/// whose message says what is allowed and whose ActualValue is what was given.
/// </summary>
internal static class OptionChecks
{
    public static void InRange(int value, int min, int max, string option, string owner)
    {
        if (value < min || value > max)
            throw new ArgumentOutOfRangeException(option, value, $"{owner}.{option} must be between {min} and {max}.");
    }

    public static void InRange(double value, double min, double max, string option, string owner, bool maxExclusive = false)
    {
        if (!double.IsFinite(value) || value < min || value > max || maxExclusive && value == max)
            throw new ArgumentOutOfRangeException(option, value, $"{owner}.{option} must be a number in [{min}, {max}{(maxExclusive ? ")" : "]")}.");
    }

    public static void Positive(double value, string option, string owner)
    {
        if (!double.IsFinite(value) || value <= 0)
            throw new ArgumentOutOfRangeException(option, value, $"{owner}.{option} must be a finite number above 0.");
    }

    public static void Defined<T>(T value, string option, string owner) where T : struct, Enum
    {
        if (!Enum.IsDefined(value))
            throw new ArgumentOutOfRangeException(option, value, $"{owner}.{option} must be one of {string.Join(", ", Enum.GetNames<T>())}.");
    }

    public static void ColumnName(string? value, string option, string owner)
    {
        if (string.IsNullOrWhiteSpace(value))
            throw new ArgumentOutOfRangeException(option, value, $"{owner}.{option} must name a column.");
    }

    public static void NotNull(object? value, string option, string owner)
    {
        if (value is null) throw new ArgumentOutOfRangeException(option, null, $"{owner}.{option} must be set, but is null.");
    }
}
