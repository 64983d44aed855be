
namespace LatentDiffusion;

/// <summary>
/// One check per option: each failure is an <see cref="ArgumentOutOfRangeException"/> whose ParamName is the option,
/// whose message says what is allowed (and, where given, why) and whose ActualValue is what was given. Every options
/// class of the library checks itself with these, the engine's as well as the ML.NET components'.
/// </summary>
public static class OptionChecks
{
    /// <summary>
    /// Requires <paramref name="min"/> &lt;= <paramref name="value"/> &lt;= <paramref name="max"/> for <paramref
    /// name="option"/> of <paramref name="owner"/>; <paramref name="why"/> explains the range.
    /// </summary>
    public static void InRange(int value, int min, int max, string option, string owner, string? why = null)
    {
        if (value < min || value > max)
            throw new ArgumentOutOfRangeException(option, value, $"{Subject(option, owner)} must be between {min} and {max}{Why(why)}, got {value}.");
    }

    /// <summary>
    /// Requires a finite <paramref name="value"/> in [<paramref name="min"/>, <paramref name="max"/>] (or [min, max)
    /// when <paramref name="maxExclusive"/>).
    /// </summary>
    public static void InRange(double value, double min, double max, string option, string owner, bool maxExclusive = false, string? why = null)
    {
        if (!double.IsFinite(value) || value < min || value > max || maxExclusive && value == max)
            throw new ArgumentOutOfRangeException(option, value,
                $"{Subject(option, owner)} must be a number in [{min}, {max}{(maxExclusive ? ")" : "]")}{Why(why)}, got {value}.");
    }

    /// <summary>Requires a finite <paramref name="value"/> &gt;= <paramref name="min"/>.</summary>
    public static void AtLeast(double value, double min, string option, string owner, string? why = null)
    {
        if (!double.IsFinite(value) || value < min)
            throw new ArgumentOutOfRangeException(option, value, $"{Subject(option, owner)} must be a finite number >= {min}{Why(why)}, got {value}.");
    }

    /// <summary>Requires a finite <paramref name="value"/>.</summary>
    public static void Finite(double value, string option, string owner, string? why = null)
    {
        if (!double.IsFinite(value))
            throw new ArgumentOutOfRangeException(option, value, $"{Subject(option, owner)} must be a finite number{Why(why)}, got {value}.");
    }

    /// <summary>Requires a finite <paramref name="value"/> above 0.</summary>
    public static void Positive(double value, string option, string owner)
    {
        if (!double.IsFinite(value) || value <= 0)
            throw new ArgumentOutOfRangeException(option, value, $"{Subject(option, owner)} must be a finite number above 0, got {value}.");
    }

    /// <summary>Requires <paramref name="value"/> to be a named member of <typeparamref name="T"/>.</summary>
    public static void Defined<T>(T value, string option, string owner) where T : struct, Enum
    {
        if (!Enum.IsDefined(value))
            throw new ArgumentOutOfRangeException(option, value,
                $"{Subject(option, owner)} must be one of {string.Join(", ", Enum.GetNames<T>())}, got {value}.");
    }

    /// <summary>Requires a column name that is not empty or blank.</summary>
    public static void ColumnName(string? value, string option, string owner)
    {
        if (string.IsNullOrWhiteSpace(value))
            throw new ArgumentOutOfRangeException(option, value, $"{Subject(option, owner)} must name a column.");
    }

    /// <summary>Requires a value.</summary>
    public static void NotNull(object? value, string option, string owner)
    {
        if (value is null) throw new ArgumentOutOfRangeException(option, null, $"{Subject(option, owner)} must be set, but is null.");
    }

    /// <summary>
    /// What a message is about: "Owner.Option" for an options type ("VaeEncoderOptions.Width"), "Option of owner"
    /// for a phrase ("Width of the VAE in 'Config.json'").
    /// </summary>
    public static string Subject(string option, string owner) => owner.Contains(' ') || owner.StartsWith('\'') ? $"{option} of {owner}" : $"{owner}.{option}";

    private static string Why(string? why) => why is null ? "" : $" ({why})";
}
