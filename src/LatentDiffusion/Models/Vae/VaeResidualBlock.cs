using TorchSharp.Modules;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace LatentDiffusion.Models.Vae;

/// <summary>Norm, SiLU, 3x3 conv, twice, plus the input (through a 1x1 conv when the channels change): the latent-diffusion autoencoder's block.</summary>
internal sealed class VaeResidualBlock : Module<Tensor, Tensor>
{
    private readonly GroupNorm norm1, norm2;
    private readonly Conv2d conv1, conv2;
    private readonly Module<Tensor, Tensor> skip;

    public VaeResidualBlock(int inChannels, int outChannels, Device device) : base(nameof(VaeResidualBlock))
    {
        norm1 = VaeNorm.Create(inChannels, device);
        conv1 = Conv2d(inChannels, outChannels, 3, padding: 1, device: device);
        norm2 = VaeNorm.Create(outChannels, device);
        conv2 = Conv2d(outChannels, outChannels, 3, padding: 1, device: device);
        skip = inChannels == outChannels ? Identity() : Conv2d(inChannels, outChannels, 1, device: device);
        RegisterComponents();
    }

    public override Tensor forward(Tensor x)
    {
        var h = conv1.forward(functional.silu(norm1.forward(x)));
        h = conv2.forward(functional.silu(norm2.forward(h)));
        return skip.forward(x) + h;
    }
}
