
namespace LatentDiffusion.MLNet.Evaluation;

/// <summary>Features of one set of images, computed once and reusable across evaluations.</summary>
public sealed class FeatureSet
{
    internal FeatureSet(float[] features, int[]? predicted, int[]? requested, int dims)
    {
        Features = features;
        PredictedLabels = predicted ?? [];
        RequestedLabels = requested;
        Dimensions = dims;
    }

    /// <summary>Row-major features, <see cref="Count"/> x <see cref="Dimensions"/>.</summary>
    public float[] Features { get; }
    /// <summary>The classifier's predicted class per row (empty for an instrument without classes).</summary>
    public int[] PredictedLabels { get; }
    /// <summary>The label each row carries (asked for, or true), if a label column was given; -1 means none.</summary>
    public int[]? RequestedLabels { get; }
    /// <summary>Feature size (128).</summary>
    public int Dimensions { get; }
    /// <summary>Number of rows.</summary>
    public int Count => Features.Length / Dimensions;

    /// <summary>Share of rows whose predicted label equals the carried label (rows with label -1 excluded); null without labels.</summary>
    public double? Accuracy
    {
        get
        {
            if (RequestedLabels is null || PredictedLabels.Length == 0) return null;
            int n = 0, hit = 0;
            for (int i = 0; i < Count; i++)
            {
                if (RequestedLabels[i] < 0) continue;
                n++;
                if (RequestedLabels[i] == PredictedLabels[i]) hit++;
            }
            return n == 0 ? null : (double)hit / n;
        }
    }
}
