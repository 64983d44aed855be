
using static TorchSharp.torch;

namespace LatentDiffusion.Models.Denoisers;

/// <summary>
/// A network that predicts the diffusion target for noisy data x at timesteps t with class labels (the null class =
/// no label). Takes and returns float32 whatever the number format of its weights.
/// </summary>
internal abstract class Denoiser(string name, DenoiserConfig config) : nn.Module<Tensor, Tensor, Tensor, Tensor>(name)
{
    public DenoiserConfig Config { get; } = config;

    public int Classes => Config.Classes;

    public int NullClass => Config.NullClass;

    /// <summary>The number format of the weights (float32 unless converted).</summary>
    public abstract ScalarType DataType { get; }

    /// <summary>Analytic floating-point operations (2 per multiply-add) of one forward pass for one sample.</summary>
    public abstract double ForwardFlops();
}
