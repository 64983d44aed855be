using LatentDiffusion.Training;
using Microsoft.Extensions.Logging;
using Microsoft.ML;
using Microsoft.ML.Data;
using Microsoft.ML.Trainers;

namespace LatentDiffusion.MLNet.Denoising;

/// <summary>
/// Labels earned without annotation (issue 44; Hu et al. 2023, "Self-guided diffusion models"; Adaloglou et al. 2024,
/// cluster-conditioned EDM): ML.NET's k-means (k-means++ seeding, one thread so that a seed gives the same clusters) on
/// the rows the denoiser learns, each element standardised per index of the first dimension so that no channel
/// dominates the distance. Nothing else enters: no label column, no classifier, no feature network. The clusters become
/// the classes the denoiser is conditioned on, and their shares what unlabelled requests draw from.
/// </summary>
internal static class SelfLabels
{
    private sealed class Row
    {
        public float[] Features { get; set; } = [];
    }

    /// <summary>The rows of <paramref name="data"/> (of <paramref name="shape"/>) with their cluster as label, and each cluster's share.</summary>
    public static (TrainingData Data, double[] Shares) Assign(TrainingData data, int[] shape, int clusters, int seed, ILogger log)
    {
        var values = new float[(long)data.Rows * data.Size];
        int offset = 0;
        foreach (var chunk in data.All(4096))
        {
            chunk.Values.AsSpan(0, chunk.Rows * data.Size).CopyTo(values.AsSpan(offset));
            offset += chunk.Rows * data.Size;
        }
        var clock = System.Diagnostics.Stopwatch.StartNew();
        var labels = Cluster(Standardised(values, data.Rows, shape), data.Rows, data.Size, clusters, seed);
        var counts = new long[clusters];
        foreach (int label in labels) counts[label]++;
        var shares = counts.Select(c => (double)c / data.Rows).ToArray();
        log.LogInformation("Self-labels: {Clusters} k-means clusters of the {Rows} training rows in {Seconds:F1} s; shares from {Smallest:P1} to {Largest:P1}",
            clusters, data.Rows, clock.Elapsed.TotalSeconds, shares.Min(), shares.Max());
        return (TrainingData.InMemory(values, labels, data.Rows), shares);
    }

    /// <summary>A copy of the rows with every element standardised per index of the first dimension.</summary>
    internal static float[] Standardised(float[] values, int rows, int[] shape)
    {
        int channels = shape[0], size = values.Length / Math.Max(rows, 1), inner = size / channels;
        var moments = new ChannelMoments(channels, inner);
        moments.Add(values);
        var mean = moments.Mean;
        var std = moments.Variance.Select(v => Math.Sqrt(v) is var s && s > 1e-6 ? (float)s : 1f).ToArray();
        var result = new float[values.Length];
        for (int i = 0; i < values.Length; i++)
        {
            int c = i % size / inner;
            result[i] = (values[i] - mean[c]) / std[c];
        }
        return result;
    }

    internal static int[] Cluster(float[] values, int rows, int size, int clusters, int seed)
    {
        var ml = new MLContext(seed);
        var schema = SchemaDefinition.Create(typeof(Row));
        schema[nameof(Row.Features)].ColumnType = new VectorDataViewType(NumberDataViewType.Single, size);
        var view = ml.Data.LoadFromEnumerable(Enumerable.Range(0, rows).Select(r => new Row { Features = values.AsSpan(r * size, size).ToArray() }), schema);
        var model = ml.Clustering.Trainers.KMeans(new KMeansTrainer.Options
        {
            FeatureColumnName = nameof(Row.Features), NumberOfClusters = clusters, NumberOfThreads = 1,
            InitializationAlgorithm = KMeansTrainer.InitializationAlgorithm.KMeansPlusPlus,
        }).Fit(view);
        // PredictedLabel is a key: 1..k.
        return [.. model.Transform(view).GetColumn<uint>("PredictedLabel").Select(k => (int)k - 1)];
    }
}
