using TorchSharp;
using static TorchSharp.torch;

namespace LatentDiffusion.Metrics;

/// <summary>
/// FID = |mu_a - mu_b|^2 + tr(S_a + S_b - 2 (S_a S_b)^{1/2}), in float64. The trace of the matrix square root uses
/// tr((S_a S_b)^{1/2}) = tr((A S_b A)^{1/2}) with A = S_a^{1/2}: both square roots are of symmetric positive
/// semi-definite matrices, so symmetric eigendecompositions give them stably (no complex parts to discard).
/// </summary>
public static class FrechetDistance
{
    /// <summary>FID between two feature sets, each [rows, dims] (row-major) of finite values.</summary>
    public static double Compute(float[] a, float[] b, int dims)
    {
        ArgumentNullException.ThrowIfNull(a);
        ArgumentNullException.ThrowIfNull(b);
        if (dims < 1) throw new ArgumentOutOfRangeException(nameof(dims), dims, $"FID needs features of at least 1 dimension, got {dims}.");
        RequireFinite(a, nameof(a));
        RequireFinite(b, nameof(b));
        using var scope = NewDisposeScope();
        var (muA, covA) = Moments(a, dims);
        var (muB, covB) = Moments(b, dims);
        return FromMoments(muA, covA, muB, covB);
    }

    /// <summary>FID between two Gaussians given their means [d] and covariances [d, d] (float64 tensors).</summary>
    public static double FromMoments(Tensor muA, Tensor covA, Tensor muB, Tensor covB)
    {
        using var scope = NewDisposeScope();
        var sqrtA = SymmetricSqrt(covA);
        var middle = sqrtA.matmul(covB).matmul(sqrtA);
        middle = (middle + middle.T) / 2;
        double traceSqrt = linalg.eigvalsh(middle).clamp_min(0).sqrt().sum().item<double>();
        double meanTerm = (muA - muB).square().sum().item<double>();
        double value = meanTerm + covA.trace().item<double>() + covB.trace().item<double>() - 2 * traceSqrt;
        return Math.Max(value, 0);
    }

    /// <summary>Mean and unbiased covariance (float64) of a [rows, dims] feature set.</summary>
    public static (Tensor Mean, Tensor Covariance) Moments(float[] features, int dims)
    {
        if (dims < 1) throw new ArgumentOutOfRangeException(nameof(dims), dims, $"Moments need features of at least 1 dimension, got {dims}.");
        int rows = features.Length / dims;
        if (rows < 2 || (long)rows * dims != features.Length)
            throw new ArgumentException($"Expected at least 2 rows of {dims} features; got {features.Length} values.", nameof(features));
        var x = tensor(features, [rows, dims]).to_type(float64);
        var mean = x.mean([0]);
        var centred = x - mean;
        // An explicit scalar: an operator's temporary one can be finalized while libtorch reads it (see SampleQuality).
        using Scalar degrees = rows - 1;
        var cov = centred.T.matmul(centred).div(degrees);
        return (mean, cov);
    }

    private static void RequireFinite(float[] features, string name)
    {
        for (int i = 0; i < features.Length; i++)
            if (!float.IsFinite(features[i]))
                throw new ArgumentOutOfRangeException(name, features[i], $"Feature value {i} of '{name}' is {features[i]}; FID needs finite features.");
    }

    private static Tensor SymmetricSqrt(Tensor m)
    {
        var (values, vectors) = linalg.eigh((m + m.T) / 2);
        return vectors.matmul(diag(values.clamp_min(0).sqrt())).matmul(vectors.T);
    }
}
