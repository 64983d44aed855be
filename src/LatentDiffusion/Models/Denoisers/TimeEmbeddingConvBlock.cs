using TorchSharp.Modules;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace LatentDiffusion.Models.Denoisers;

/// <summary>
/// The reference MNIST UNet's <c>TimeEmbeddingConvBlock</c>: conv, then norm, plus a linear projection of the (time + class)
/// embedding broadcast over space, then the activation.
/// </summary>
internal sealed class TimeEmbeddingConvBlock : Module<Tensor, Tensor, Tensor>
{
    private readonly Conv2d conv;
    private readonly GroupNorm norm;
    private readonly Linear embedding;

    public TimeEmbeddingConvBlock(int inChannels, int outChannels, int embeddingSize, Device device) : base(nameof(TimeEmbeddingConvBlock))
    {
        conv = Conv2d(inChannels, outChannels, 3, padding: 1, device: device);
        norm = GroupNorm(Math.Min(8, outChannels), outChannels, device: device);
        embedding = Linear(embeddingSize, outChannels, device: device);
        RegisterComponents();
        // TorchSharp 0.107.0 allocates GroupNorm's affine parameters without initialising them (verified here:
        // values like 1e16 or NaN from whatever memory was there), so set the identity transform explicitly.
        using (no_grad())
        {
            norm.weight!.fill_(1f);
            norm.bias!.zero_();
        }
    }

    public override Tensor forward(Tensor x, Tensor emb)
    {
        var projected = embedding.forward(functional.silu(emb));
        return functional.silu(norm.forward(conv.forward(x)) + projected.unsqueeze(-1).unsqueeze(-1));
    }
}
