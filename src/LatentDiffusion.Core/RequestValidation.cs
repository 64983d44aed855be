
namespace LatentDiffusion;

/// <summary>Checks generation requests before any sampling.</summary>
public static class RequestValidation
{
    /// <summary>
    /// Requires one label per seed, each in 0..<paramref name="classes"/>-1 or -1 (unconditional); <paramref
    /// name="column"/> names them in messages.
    /// </summary>
    public static void Check(ReadOnlySpan<int> labels, int seeds, int classes, string column)
    {
        if (labels.Length != seeds) throw new ArgumentException($"Got {labels.Length} labels but {seeds} seeds; give one of each per request.");
        foreach (var label in labels) CheckLabel(label, classes, column, -1);
    }

    /// <summary>Requires <paramref name="label"/> in 0..<paramref name="classes"/>-1 or -1; <paramref name="row"/> (or -1) locates it in messages.</summary>
    public static void CheckLabel(long label, int classes, string column, long row)
    {
        if (label < -1 || label >= classes)
        {
            string where = row >= 0 ? $", row {row}" : "";
            string range = classes > 0 ? $"0..{classes - 1}, or -1 for an unconditional sample" : "-1 only (the model is unconditional)";
            throw new ArgumentOutOfRangeException(column, $"Column '{column}'{where}: label {label} is outside the declared range {range}.");
        }
    }
}
