namespace LatentDiffusion.MLNet.Denoising;

/// <summary>
/// The clusters self-labelled guidance trains on (<see cref="LatentDiffusionOptions.SelfLabelClusters"/>), computed
/// the same way outside training, so that they can be looked at: their sizes, or, afterwards and for a report only,
/// their agreement with labels the trainer never reads.
/// </summary>
public static class SelfLabeling
{
    /// <summary>
    /// The cluster (0..<paramref name="clusters"/>-1) of each of <paramref name="rows"/> rows of
    /// <paramref name="shape"/> in <paramref name="values"/>: ML.NET's k-means (k-means++ seeding, one thread) on the
    /// rows standardised per index of the first dimension; with the trainer's seed, the trainer's clusters.
    /// </summary>
    public static int[] Clusters(float[] values, int rows, int[] shape, int clusters, int seed = 1)
    {
        ArgumentNullException.ThrowIfNull(values);
        ArgumentNullException.ThrowIfNull(shape);
        long size = shape.Aggregate(1L, (a, d) => a * d);
        if (rows < 1 || shape.Length == 0 || shape.Any(d => d < 1) || (long)rows * size != values.Length)
            throw new ArgumentOutOfRangeException(nameof(values), values.Length,
                $"values must hold {rows} rows of [{string.Join(", ", shape)}] ({(long)rows * size} floats), got {values.Length}.");
        OptionChecks.InRange(clusters, 2, Math.Min(10_000, Math.Max(rows, 2)), nameof(clusters), nameof(SelfLabeling), "at most one per row");
        return SelfLabels.Cluster(SelfLabels.Standardised(values, rows, shape), rows, (int)size, clusters, seed);
    }
}
