
namespace LatentDiffusion.Training;

/// <summary>
/// Running mean and variance per channel of row-major data shaped [rows, channels, inner...], in float64: how the
/// VAE's latents and the diffusion trainer's data are standardised.
/// </summary>
internal sealed class ChannelMoments(int channels, int inner)
{
    private readonly double[] sum = new double[channels], sumSq = new double[channels];
    private long rows;

    /// <summary>Adds whole rows (a multiple of channels x inner values).</summary>
    public void Add(ReadOnlySpan<float> values)
    {
        for (int i = 0; i < values.Length; i++)
        {
            int c = i / inner % channels;
            sum[c] += values[i];
            sumSq[c] += (double)values[i] * values[i];
        }
        rows += values.Length / (channels * inner);
    }

    private double Count => (double)rows * inner;

    public float[] Mean => sum.Select(s => (float)(s / Count)).ToArray();

    /// <summary>The population variance of each channel (never below 0).</summary>
    public double[] Variance => sum.Select((s, c) => Math.Max(sumSq[c] / Count - s / Count * (s / Count), 0)).ToArray();
}
