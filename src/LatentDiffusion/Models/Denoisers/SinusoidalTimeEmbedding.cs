
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace LatentDiffusion.Models.Denoisers;

/// <summary>Sinusoidal embedding of the timestep with log-spaced frequencies (the reference MNIST UNet's).</summary>
internal sealed class SinusoidalTimeEmbedding : Module<Tensor, Tensor>
{
    private readonly int half;
    private readonly double logScale;

    public SinusoidalTimeEmbedding(int dim, double scale = 1000) : base(nameof(SinusoidalTimeEmbedding))
    {
        half = dim / 2;
        logScale = Math.Log(scale);
    }

    /// <summary>Always float32, on <paramref name="t"/>'s device, whatever the module's dtype: timesteps up to T need the precision.</summary>
    public override Tensor forward(Tensor t)
    {
        var frequencies = exp(arange(half, dtype: float32, device: t.device) * (-logScale / (half - 1)));
        var args = t.to_type(float32).unsqueeze(1) * frequencies.unsqueeze(0);
        return cat([args.sin(), args.cos()], 1);
    }
}
