using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace LatentDiffusion.Models;

/// <summary>Group normalisation for the residual VAE: up to 8 groups (as the UNet), always a divisor of the channels.</summary>
internal static class VaeNorm
{
    public static GroupNorm Create(int channels, Device device)
    {
        var norm = GroupNorm(Groups(channels), channels, device: device);
        // TorchSharp 0.107.0 leaves GroupNorm's affine parameters uninitialised (see TimeEmbeddingConvBlock): set the identity.
        using (no_grad())
        {
            norm.weight!.fill_(1f);
            norm.bias!.zero_();
        }
        return norm;
    }

    public static int Groups(int channels)
    {
        int groups = 8;
        while (channels % groups != 0) groups /= 2;
        return groups;
    }
}

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

/// <summary>Single-head self-attention over the positions of a feature map, added to its input (used at the latent resolution).</summary>
internal sealed class VaeSelfAttention : Module<Tensor, Tensor>
{
    private readonly GroupNorm norm;
    private readonly Conv2d qkv, projection;

    public VaeSelfAttention(int channels, Device device) : base(nameof(VaeSelfAttention))
    {
        norm = VaeNorm.Create(channels, device);
        qkv = Conv2d(channels, 3 * channels, 1, device: device);
        projection = Conv2d(channels, channels, 1, device: device);
        RegisterComponents();
    }

    public override Tensor forward(Tensor x)
    {
        long n = x.shape[0], c = x.shape[1], h = x.shape[2], w = x.shape[3];
        var parts = qkv.forward(norm.forward(x)).view(n, 3, c, h * w).unbind(1);
        // [N, positions, C] queries against [N, C, positions] keys: every position attends to every other.
        var weights = functional.softmax(parts[0].transpose(1, 2).matmul(parts[1]) * (1.0 / Math.Sqrt(c)), -1);
        var attended = parts[2].matmul(weights.transpose(1, 2)).view(n, c, h, w);
        return x + projection.forward(attended);
    }
}
