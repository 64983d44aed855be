using LatentDiffusion.Metrics;

namespace LatentDiffusion.Tests.Metrics;

public class FrechetDistanceTests
{
    private static float[] Gaussian(int rows, double[] mean, double[] std, int seed)
    {
        var random = new Random(seed);
        var data = new float[rows * mean.Length];
        for (int r = 0; r < rows; r++)
            for (int d = 0; d < mean.Length; d++)
            {
                double u = 1 - random.NextDouble(), v = random.NextDouble();
                data[r * mean.Length + d] = (float)(mean[d] + std[d] * Math.Sqrt(-2 * Math.Log(u)) * Math.Cos(2 * Math.PI * v));
            }
        return data;
    }

    [Fact]
    public void Identical_sets_give_zero()
    {
        var a = Gaussian(2000, [0, 1, 2, 3], [1, 2, 0.5, 1], seed: 1);
        Assert.InRange(FrechetDistance.Compute(a, a, 4), 0, 1e-6);
    }

    [Fact]
    public void Two_gaussian_samples_match_the_closed_form_within_sampling_error()
    {
        // Diagonal covariances: FID = |mu_a - mu_b|^2 + sum_i (s_a,i - s_b,i)^2 with s the standard deviations.
        double[] muA = [0, 1, -1, 2, 0.5], muB = [0.5, 1, 0, 2, -0.5];
        double[] sA = [1, 2, 0.5, 1, 1.5], sB = [1, 1, 0.5, 2, 1];
        double expected = muA.Zip(muB).Sum(p => (p.First - p.Second) * (p.First - p.Second))
                        + sA.Zip(sB).Sum(p => (p.First - p.Second) * (p.First - p.Second));
        var a = Gaussian(20000, muA, sA, seed: 2);
        var b = Gaussian(20000, muB, sB, seed: 3);

        double fid = FrechetDistance.Compute(a, b, 5);

        Assert.InRange(fid, expected * 0.97, expected * 1.03); // expected = 4.75; sampling error at n = 20000 is ~1%
    }

    [Fact]
    public void Fid_is_symmetric_and_grows_with_the_mean_shift()
    {
        var a = Gaussian(3000, [0, 0, 0], [1, 1, 1], seed: 4);
        var b = Gaussian(3000, [1, 0, 0], [1, 2, 1], seed: 5);
        var c = Gaussian(3000, [3, 0, 0], [1, 2, 1], seed: 6);

        Assert.Equal(FrechetDistance.Compute(a, b, 3), FrechetDistance.Compute(b, a, 3), 6);
        Assert.True(FrechetDistance.Compute(a, c, 3) > FrechetDistance.Compute(a, b, 3) + 5);
    }

    [Fact]
    public void Kid_is_near_zero_for_one_distribution_and_positive_for_two()
    {
        var a = Gaussian(2000, [0, 0, 0, 0], [1, 1, 1, 1], seed: 7);
        var b = Gaussian(2000, [0, 0, 0, 0], [1, 1, 1, 1], seed: 8);
        var c = Gaussian(2000, [1, 1, 0, 0], [1, 1, 1, 1], seed: 9);

        var same = SampleQuality.KernelDistance(a, b, 4, subsets: 10, subsetSize: 500);
        var different = SampleQuality.KernelDistance(a, c, 4, subsets: 10, subsetSize: 500);

        Assert.InRange(Math.Abs(same.Mean), 0, 3 * same.Std + 1e-3);
        Assert.True(different.Mean > 10 * Math.Max(same.Std, 1e-4), $"KID {different.Mean} vs spread {same.Std}");
    }

    [Fact]
    public void Precision_and_recall_separate_a_collapsed_generator_from_a_faithful_one()
    {
        var reference = Gaussian(2000, [0, 0], [1, 1], seed: 10);
        var faithful = Gaussian(2000, [0, 0], [1, 1], seed: 11);
        var collapsed = Gaussian(2000, [0, 0], [0.1, 0.1], seed: 12);

        var good = SampleQuality.PrecisionRecall(faithful, reference, 2);
        var bad = SampleQuality.PrecisionRecall(collapsed, reference, 2);

        Assert.True(good.Precision > 0.9 && good.Recall > 0.9, $"{good}");
        Assert.True(bad.Precision > 0.9 && bad.Recall < 0.3, $"{bad}");
    }

    [Fact]
    public void Label_entropy_is_ln10_when_balanced_and_zero_when_collapsed()
    {
        Assert.Equal(Math.Log(10), SampleQuality.LabelEntropy(Enumerable.Range(0, 1000).Select(i => i % 10), 10), 9);
        Assert.Equal(0, SampleQuality.LabelEntropy(Enumerable.Repeat(4, 100), 10), 9);
    }
}
