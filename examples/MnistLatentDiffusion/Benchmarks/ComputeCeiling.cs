using System.Diagnostics;
using System.Text.Json.Nodes;
using LatentDiffusion.Diffusion;
using static TorchSharp.torch;

namespace MnistLatentDiffusion.Benchmarks;

/// <summary>
/// What this machine's libtorch reaches on the operations the networks are made of, measured in the same run as the
/// figures it is compared with: a 3x3 convolution at the denoiser's inner shape (its widest channels at the data's
/// resolution, batch 256) and a 2048^3 matmul, each in float32 and bfloat16. A network's GFLOP/s over the convolution
/// figure is the share of the ceiling it reaches.
/// </summary>
internal sealed record ComputeCeiling(string ConvShape, double ConvFloat32, double ConvBFloat16, double MatmulFloat32, double MatmulBFloat16, int Threads)
{
    public static ComputeCeiling Measure(DiffusionModelConfig model, CancellationToken token)
    {
        var shape = model.Denoiser.DataShape;
        return Measure(2 * model.Denoiser.Width, shape.Length == 3 ? shape[1] : 8, shape.Length == 3 ? shape[2] : 8, seconds: 1, matmul: true, token);
    }

    /// <summary>The figures at a 3x3 convolution of <paramref name="channels"/> x <paramref name="height"/> x <paramref name="width"/>, each timed for
    /// <paramref name="seconds"/>; the matmuls only when asked (else 0).</summary>
    public static ComputeCeiling Measure(int channels, int height, int width, double seconds, bool matmul, CancellationToken token)
    {
        using var _ = no_grad();
        double Conv(ScalarType type)
        {
            using var scope = NewDisposeScope();
            var x = randn(256, channels, height, width).to(type);
            var w = randn(channels, channels, 3, 3).to(type);
            double flops = 2.0 * 256 * channels * channels * 9 * height * width;
            return Rate(() => nn.functional.conv2d(x, w, padding: [1, 1]).Dispose(), flops, seconds, token);
        }
        double Matmul(ScalarType type)
        {
            if (!matmul) return 0;
            using var scope = NewDisposeScope();
            var a = randn(2048, 2048).to(type);
            var b = randn(2048, 2048).to(type);
            return Rate(() => a.matmul(b).Dispose(), 2.0 * 2048 * 2048 * 2048, seconds, token);
        }
        return new ComputeCeiling($"{channels}x{height}x{width}", Conv(ScalarType.Float32), Conv(ScalarType.BFloat16), Matmul(ScalarType.Float32),
            Matmul(ScalarType.BFloat16), TorchSharp.torch.get_num_threads());
    }

    /// <summary>GFLOP/s of <paramref name="operation"/>, after a warm-up, over at least <paramref name="seconds"/>.</summary>
    private static double Rate(Action operation, double flops, double seconds, CancellationToken token)
    {
        operation();
        int runs = 0;
        var clock = Stopwatch.StartNew();
        do
        {
            token.ThrowIfCancellationRequested();
            operation();
            runs++;
        }
        while (clock.Elapsed.TotalSeconds < seconds);
        return runs * flops / clock.Elapsed.TotalSeconds / 1e9;
    }

    public string Describe() => FormattableString.Invariant(
        $"Measured ceiling ({Threads} threads): 3x3 conv {ConvShape} batch 256 {ConvFloat32:F0} GFLOP/s float32, {ConvBFloat16:F0} bfloat16; matmul 2048^3 ")
            + FormattableString.Invariant($"{MatmulFloat32:F0} float32, {MatmulBFloat16:F0} bfloat16");

    public JsonObject ToJson() => new()
    {
        ["convShape"] = ConvShape, ["convFloat32Gflops"] = ConvFloat32, ["convBFloat16Gflops"] = ConvBFloat16,
        ["matmulFloat32Gflops"] = MatmulFloat32, ["matmulBFloat16Gflops"] = MatmulBFloat16, ["threads"] = Threads,
    };
}
