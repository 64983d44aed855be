
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace LatentDiffusion.Models.Denoisers;

/// <summary>Two time-conditioned conv blocks with a residual connection (a 1x1 conv when channels change).</summary>
internal sealed class ResidualTimeBlock : Module<Tensor, Tensor, Tensor>
{
    private readonly TimeEmbeddingConvBlock first, second;
    private readonly Module<Tensor, Tensor> skip;

    public ResidualTimeBlock(int inChannels, int outChannels, int embeddingSize, Device device) : base(nameof(ResidualTimeBlock))
    {
        first = new TimeEmbeddingConvBlock(inChannels, outChannels, embeddingSize, device);
        second = new TimeEmbeddingConvBlock(outChannels, outChannels, embeddingSize, device);
        skip = inChannels == outChannels ? Identity() : Conv2d(inChannels, outChannels, 1, device: device);
        RegisterComponents();
    }

    public override Tensor forward(Tensor x, Tensor emb) => skip.forward(x) + second.forward(first.forward(x, emb), emb);
}
