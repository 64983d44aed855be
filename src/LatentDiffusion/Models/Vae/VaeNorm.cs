using TorchSharp.Modules;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace LatentDiffusion.Models.Vae;

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
