using System.CommandLine;
using System.CommandLine.Parsing;
using System.Globalization;

namespace MnistLatentDiffusion.CommandLine;

/// <summary>
/// Options that check themselves: each adds one error that names the option, what it takes and what was given, before
/// any work starts.
/// </summary>
internal static class CliOptions
{
    public static Option<int> Integer(string name, string description, int defaultValue, int min, int max)
    {
        var option = new Option<int>(name) { Description = $"{description} ({min}..{max})", DefaultValueFactory = _ => defaultValue };
        option.Validators.Add(result =>
        {
            if (!TryValue(result, name, $"a whole number between {min} and {max}", out int value)) return;
            if (value < min || value > max) result.AddError($"{name} must be between {min} and {max}, got {value}.");
        });
        return option;
    }

    /// <summary>
    /// The option's value, or false after adding one error that names the option, what it takes and the text given:
    /// System.CommandLine throws from <c>GetValueOrDefault</c> inside a validator when the text does not convert.
    /// </summary>
    public static bool TryValue<T>(OptionResult result, string name, string expected, out T? value)
    {
        try
        {
            value = result.GetValueOrDefault<T>();
            return true;
        }
        catch (InvalidOperationException)
        {
            value = default;
            result.AddError($"{name} must be {expected}, got '{string.Join(" ", result.Tokens.Select(t => t.Value))}'.");
            return false;
        }
    }

    public static Option<string> Choice(string name, string description, string defaultValue, params string[] choices)
    {
        var option = new Option<string>(name) { Description = $"{description}: {string.Join(", ", choices)}", DefaultValueFactory = _ => defaultValue };
        option.Validators.Add(result =>
        {
            string value = result.GetValueOrDefault<string>() ?? "";
            if (!choices.Contains(value, StringComparer.OrdinalIgnoreCase))
                result.AddError($"{name} must be one of {string.Join(", ", choices)}, got '{value}'.");
        });
        return option;
    }

    public static Option<string?> OptionalChoice(string name, string description, params string[] choices)
    {
        var option = new Option<string?>(name) { Description = $"{description}: {string.Join(", ", choices)}" };
        option.Validators.Add(result =>
        {
            string? value = result.GetValueOrDefault<string?>();
            if (value is not null && !choices.Contains(value, StringComparer.OrdinalIgnoreCase))
                result.AddError($"{name} must be one of {string.Join(", ", choices)}, got '{value}'.");
        });
        return option;
    }

    public static Option<double?> Number(string name, string description, double min, double max)
    {
        var option = new Option<double?>(name) { Description = description };
        option.Validators.Add(result =>
        {
            if (!TryValue(result, name, $"a number between {min} and {max}", out double? value)) return;
            if (value is { } v && (!double.IsFinite(v) || v < min || v > max)) result.AddError($"{name} must be a number between {min} and {max}, got {v}.");
        });
        return option;
    }

    public static Option<string?> Band(string name, string description)
    {
        var option = new Option<string?>(name) { Description = description };
        option.Validators.Add(result =>
        {
            if (result.GetValueOrDefault<string?>() is { } text && ParseBand(name, text) is { Error: { } error }) result.AddError(error);
        });
        return option;
    }

    public static (double Low, double High, string? Error) ParseBand(string name, string text)
    {
        var ends = text.Split(',');
        if (ends.Length != 2 || !double.TryParse(ends[0], NumberStyles.Float, CultureInfo.InvariantCulture, out double low)
            || !double.TryParse(ends[1], NumberStyles.Float, CultureInfo.InvariantCulture, out double high))
            return (0, 0, $"{name} must be LOW,HIGH, for example 0.4,0.9; got '{text}'.");
        if (low < 0 || high > 1 || low > high) return (0, 0, $"{name} must satisfy 0 <= LOW <= HIGH <= 1; got '{text}'.");
        return (low, high, null);
    }

    /// <summary>A comma-separated list option whose every entry <paramref name="valid"/> accepts; the error says what a list takes.</summary>
    public static Option<string> List(string name, string description, string defaultValue, Func<string, bool> valid, string expected)
    {
        var option = new Option<string>(name) { Description = description, DefaultValueFactory = _ => defaultValue };
        option.Validators.Add(r =>
        {
            string text = r.GetValueOrDefault<string>() ?? "";
            if (!text.Split(',').All(valid)) r.AddError($"{name} must be {expected}, comma-separated; got '{text}'.");
        });
        return option;
    }

    /// <summary>An output folder option.</summary>
    public static Option<string> Output(string defaultFolder, string description = "Output folder") =>
        new("--out") { Description = description, DefaultValueFactory = _ => defaultFolder };

    /// <summary>A required saved-model option.</summary>
    public static Option<string> Model(string description = "A saved model zip (a run's model.zip)") => new("--model") { Description = description,
        Required = true };
}
