
using static TorchSharp.torch;

namespace LatentDiffusion.Metrics;

/// <summary>Two-sample statistics for point clouds (rows of <c>dims</c> floats): energy distance and moments.</summary>
public static class PointCloudStatistics
{
    /// <summary>
    /// Energy distance (Szekely and Rizzo, "Energy statistics: a class of statistics based on distances"):
    /// 2 E|X - Y| - E|X - X'| - E|Y - Y'| with Euclidean distances, the within-set means taken over distinct pairs. It is
    /// zero in expectation when both sets come from one distribution and grows with any difference between them.
    /// Computed in float64 on the first <paramref name="maxRows"/> rows of each set.
    /// </summary>
    public static double EnergyDistance(float[] a, float[] b, int dims, int maxRows = 2000)
    {
        using var scope = NewDisposeScope();
        var x = Rows(a, dims, maxRows);
        var y = Rows(b, dims, maxRows);
        double n = x.shape[0], m = y.shape[0];
        double xy = cdist(x, y).mean().item<double>();
        double xx = cdist(x, x).sum().item<double>() / (n * (n - 1));
        double yy = cdist(y, y).sum().item<double>() / (m * (m - 1));
        return 2 * xy - xx - yy;
    }

    /// <summary>Mean [dims] and unbiased covariance [dims x dims] of a set, in float64.</summary>
    public static (double[] Mean, double[,] Covariance) Moments(float[] data, int dims)
    {
        int rows = data.Length / dims;
        if (rows < 2 || rows * dims != data.Length) throw new ArgumentException($"Expected at least 2 rows of {dims} numbers; got "
            + $"{data.Length} values.", nameof(data));
        var mean = new double[dims];
        for (int i = 0; i < data.Length; i++) mean[i % dims] += data[i];
        for (int d = 0; d < dims; d++) mean[d] /= rows;
        var covariance = new double[dims, dims];
        for (int r = 0; r < rows; r++)
            for (int i = 0; i < dims; i++)
                for (int j = 0; j < dims; j++)
                    covariance[i, j] += (data[r * dims + i] - mean[i]) * (data[r * dims + j] - mean[j]);
        for (int i = 0; i < dims; i++)
            for (int j = 0; j < dims; j++) covariance[i, j] /= rows - 1;
        return (mean, covariance);
    }

    private static Tensor Rows(float[] data, int dims, int maxRows)
    {
        int rows = Math.Min(data.Length / dims, maxRows);
        if (rows < 2) throw new ArgumentException($"The energy distance needs at least 2 rows in each set; got {rows}.", nameof(data));
        return tensor(data.AsSpan(0, rows * dims).ToArray(), [rows, dims], device: CPU).to_type(float64);
    }
}
