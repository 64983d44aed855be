using LatentDiffusion.Models.Denoisers;
using static TorchSharp.torch;

namespace LatentDiffusion.Tests.Diffusion;

/// <summary>Counts the rows a network is asked to predict, so tests can compare real passes with the counts reports use.</summary>
internal sealed class CountingDenoiser(Denoiser inner) : Denoiser("counting", inner.Config)
{
    private long rows;

    public long Rows => Interlocked.Read(ref rows);

    public override ScalarType DataType => inner.DataType;

    public override double ForwardFlops() => inner.ForwardFlops();

    public override Tensor forward(Tensor x, Tensor t, Tensor labels)
    {
        Interlocked.Add(ref rows, x.shape[0]);
        return inner.forward(x, t, labels);
    }
}
