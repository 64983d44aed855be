using TorchSharp;
using static TorchSharp.torch;

namespace LatentDiffusion.Metrics;

/// <summary>KID, precision/recall and label statistics over feature sets (rows of <c>dims</c> floats).</summary>
public static class SampleQuality
{
    /// <summary>
    /// Kernel Inception Distance (Binkowski et al.): the unbiased MMD^2 with the cubic polynomial kernel
    /// k(x, y) = (x.y / d + 1)^3, averaged over random subsets; returns the mean and the standard deviation over subsets.
    /// </summary>
    public static (double Mean, double Std) KernelDistance(float[] generated, float[] reference, int dims, int subsets = 50, int subsetSize = 1000,
        int seed = 0)
    {
        ArgumentNullException.ThrowIfNull(generated);
        ArgumentNullException.ThrowIfNull(reference);
        if (dims < 1) throw new ArgumentOutOfRangeException(nameof(dims), dims, $"KID needs features of at least 1 dimension, got {dims}.");
        if (subsets < 1) throw new ArgumentOutOfRangeException(nameof(subsets), subsets, $"KID needs at least 1 subset, got {subsets}.");
        if (subsetSize < 2) throw new ArgumentOutOfRangeException(nameof(subsetSize), subsetSize, $"KID's subsets need at least 2 rows, got {subsetSize}.");
        int n = generated.Length / dims, m = reference.Length / dims;
        int size = Math.Min(subsetSize, Math.Min(n, m));
        if (size < 2) throw new ArgumentException("KID needs at least 2 rows in each set.");
        var random = new Random(seed);
        var values = new double[subsets];
        using var scope = NewDisposeScope();
        var g = tensor(generated, [n, dims]).to_type(float64);
        var r = tensor(reference, [m, dims]).to_type(float64);
        // Explicit scalars, alive for the whole loop: an operator's temporary Scalar can be finalized by a garbage
        // collection while libtorch still reads it (TorchSharp 0.107), and this loop allocates enough to trigger some.
        using Scalar d = dims, one = 1, three = 3;
        for (int s = 0; s < subsets; s++)
        {
            using var inner = NewDisposeScope();
            var x = g[tensor(Pick(random, n, size))];
            var y = r[tensor(Pick(random, m, size))];
            Tensor K(Tensor p, Tensor q) => p.matmul(q.T).div(d).add(one).pow(three);
            double kxx = (K(x, x).sum().item<double>() - K(x, x).diagonal().sum().item<double>()) / (size * (size - 1.0));
            double kyy = (K(y, y).sum().item<double>() - K(y, y).diagonal().sum().item<double>()) / (size * (size - 1.0));
            double kxy = K(x, y).mean().item<double>();
            values[s] = kxx + kyy - 2 * kxy;
        }
        double mean = values.Average();
        double std = Math.Sqrt(values.Sum(v => (v - mean) * (v - mean)) / Math.Max(1, subsets - 1));
        return (mean, std);
    }

    private static long[] Pick(Random random, int population, int count)
    {
        var all = Enumerable.Range(0, population).ToArray();
        random.Shuffle(all);
        return all.Take(count).Select(i => (long)i).ToArray();
    }

    /// <summary>
    /// Improved precision and recall (Kynkaanniemi et al.): each set's manifold is the union of balls reaching each
    /// point's k-th nearest neighbour; precision is the share of generated points inside the reference manifold,
    /// recall the share of reference points inside the generated one.
    /// </summary>
    public static (double Precision, double Recall) PrecisionRecall(float[] generated, float[] reference, int dims, int k = 3, int maxRows = 10000)
    {
        using var scope = NewDisposeScope();
        var g = Rows(generated, dims, maxRows);
        var r = Rows(reference, dims, maxRows);
        // A point's k-th neighbour needs k others: sets of 2 or 3 points use k = 1 or 2.
        k = (int)Math.Min(k, Math.Min(g.shape[0], r.shape[0]) - 1);
        if (k < 1) throw new ArgumentException("Precision and recall need at least 2 rows in each set.");
        var radiiR = KthNeighbourDistance(r, k);
        var radiiG = KthNeighbourDistance(g, k);
        return (Coverage(g, r, radiiR), Coverage(r, g, radiiG));
    }

    private static Tensor Rows(float[] data, int dims, int maxRows)
    {
        int n = Math.Min(data.Length / dims, maxRows);
        return tensor(data.AsSpan(0, n * dims).ToArray(), [n, dims]);
    }

    private static Tensor KthNeighbourDistance(Tensor set, int k)
    {
        var radii = new List<Tensor>();
        for (long i = 0; i < set.shape[0]; i += 1024)
        {
            var block = set.narrow(0, i, Math.Min(1024, set.shape[0] - i));
            // k + 1 because each point is its own nearest neighbour.
            radii.Add(cdist(block, set).topk(k + 1, largest: false).values[.., k]);
        }
        return cat(radii);
    }

    private static double Coverage(Tensor queries, Tensor manifold, Tensor radii)
    {
        long inside = 0;
        for (long i = 0; i < queries.shape[0]; i += 1024)
        {
            using var inner = NewDisposeScope();
            var block = queries.narrow(0, i, Math.Min(1024, queries.shape[0] - i));
            inside += (cdist(block, manifold) <= radii.unsqueeze(0)).any(1).sum().item<long>();
        }
        return (double)inside / queries.shape[0];
    }

    /// <summary>Entropy (nats) of the distribution of predicted labels; ln(classes) when perfectly balanced.</summary>
    public static double LabelEntropy(IEnumerable<int> predicted, int classes)
    {
        ArgumentNullException.ThrowIfNull(predicted);
        if (classes < 1) throw new ArgumentOutOfRangeException(nameof(classes), classes, $"Label entropy needs at least 1 class, got {classes}.");
        var counts = new long[classes];
        foreach (var p in predicted)
        {
            if (p < 0 || p >= classes)
                throw new ArgumentOutOfRangeException(nameof(predicted), p, $"Predicted label {p} is not one of the {classes} classes (0..{classes - 1}).");
            counts[p]++;
        }
        return LabelEntropy(counts);
    }

    /// <summary>Entropy (nats) of a histogram of predicted labels; 0 for an empty one.</summary>
    public static double LabelEntropy(IReadOnlyList<long> counts)
    {
        ArgumentNullException.ThrowIfNull(counts);
        long total = counts.Sum();
        if (total == 0) return 0;
        return -counts.Where(c => c > 0).Sum(c => (double)c / total * Math.Log((double)c / total));
    }
}
