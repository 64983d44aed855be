
namespace LatentDiffusion.Tests.MLNet.Persistence;

/// <summary>
/// How far outputs computed on one CPU may sit from the same computation recorded on another. libtorch promises no
/// bit-identity across instruction sets: its vectorised kernels (ATEN_CPU_CAPABILITY) and oneDNN's convolutions
/// (ONEDNN_MAX_CPU_ISA) sum in other orders. Both deviations are taken relative to the array's own size, so one
/// tolerance serves latents, images and features.
/// </summary>
internal static class CrossCpu
{
    /// <summary>The largest and the root-mean-square deviation, each over the expected array's largest magnitude or RMS.</summary>
    public readonly record struct Deviation(double MaxOverScale, double RmsOverRms)
    {
        public override string ToString() => $"max {MaxOverScale:E2} of scale, rms {RmsOverRms:E2} of rms";
    }

    /// <summary>Bounds on both deviations.</summary>
    public readonly record struct Tolerance(string Name, double MaxOverScale, double RmsOverRms)
    {
        public bool Admits(Deviation d) => d.MaxOverScale <= MaxOverScale && d.RmsOverRms <= RmsOverRms;

        public override string ToString() => $"the {Name} tolerance (max {MaxOverScale:E0}, rms {RmsOverRms:E0})";
    }

    /// <summary>
    /// float32 paths. Measured on the fixtures (AMD Zen 5, under every ATEN_CPU_CAPABILITY and ONEDNN_MAX_CPU_ISA
    /// setting, against outputs recorded on an Intel Xeon): at most 2.6e-6 of scale and 1.4e-6 of rms. Scaling one
    /// weight tensor of the denoiser by 1.01 moves the sampled latents by 1.1e-4 and 8.9e-5.
    /// </summary>
    public static readonly Tolerance Float32 = new("float32", 2e-5, 1e-5);

    /// <summary>
    /// bfloat16 sampling (8 mantissa bits: a rounding step of 0.4%). Measured as above: at most 1.9e-3 of scale and
    /// 7.7e-4 of rms. A zeroed weight tensor moves the sampled latents by 2.2e-2 and 1.3e-2; a 1% error in one tensor
    /// (3e-3, 2e-3) is within bfloat16's own rounding and is caught by the float32 fixtures instead.
    /// </summary>
    public static readonly Tolerance BFloat16 = new("bfloat16", 1e-2, 4e-3);

    public static Deviation Measure(float[] expected, float[] actual)
    {
        double scale = 0, sumSquares = 0, max = 0, sumDiffSquares = 0;
        for (int i = 0; i < expected.Length; i++)
        {
            double e = expected[i], d = Math.Abs(actual[i] - e);
            scale = Math.Max(scale, Math.Abs(e));
            sumSquares += e * e;
            max = double.IsNaN(d) ? double.PositiveInfinity : Math.Max(max, d);
            sumDiffSquares += d * d;
        }
        if (scale == 0) return new(max == 0 ? 0 : double.PositiveInfinity, max == 0 ? 0 : double.PositiveInfinity);
        return new(max / scale, Math.Sqrt(sumDiffSquares / sumSquares));
    }
}
