using TorchSharp.Modules;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace LatentDiffusion.Models.Vae;

/// <summary>
/// The residual VAE (<see cref="VaeArchitecture.Residual"/>), the latent-diffusion autoencoder scaled to small images:
/// a 3x3 stem at half width, then per halving a strided 4x4 convolution followed by a residual block with group
/// normalisation; at the latent resolution two residual blocks (with self-attention between them when
/// <see cref="VaeConfig.Attention"/>), and norm, SiLU, 3x3 convolution out. The decoder mirrors it with transposed
/// convolutions. No residual block runs at the full image resolution: on 28x28 digits that one level would cost more
/// than all the others together.
/// </summary>
internal sealed class ResidualVae : VaeNetwork
{
    // The field names are the weight names in saved models.
    private readonly Sequential encoder, decoder;
    private readonly VectorQuantizer? quantizer;

    public ResidualVae(VaeConfig config, Device device) : base(nameof(ResidualVae), config)
    {
        int width = config.Width, half = Math.Max(1, width / 2), halvings = config.Downsampling == 2 ? 1 : 2;

        var enc = new List<(string, Module<Tensor, Tensor>)> { ("in", Conv2d(config.ImageShape[0], half, 3, padding: 1, device: device)) };
        int c = half;
        for (int i = 0; i < halvings; i++)
        {
            enc.Add(($"down{i}", Conv2d(c, width, 4, stride: 2, padding: 1, device: device)));
            enc.Add(($"res{i}", new VaeResidualBlock(width, width, device)));
            c = width;
        }
        enc.AddRange(Middle(width, config.Attention, device));
        enc.Add(("out_norm", VaeNorm.Create(width, device)));
        enc.Add(("out_act", SiLU()));
        enc.Add(("out", Conv2d(width, config.EncoderChannels, 3, padding: 1, device: device)));
        encoder = Sequential(enc);

        var dec = new List<(string, Module<Tensor, Tensor>)> { ("in", Conv2d(config.LatentChannels, width, 3, padding: 1, device: device)) };
        dec.AddRange(Middle(width, config.Attention, device));
        for (int i = 0; i < halvings; i++)
        {
            int cout = i == halvings - 1 ? half : width;
            dec.Add(($"res{i}", new VaeResidualBlock(width, width, device)));
            dec.Add(($"up{i}", ConvTranspose2d(width, cout, 4, stride: 2, padding: 1, device: device)));
        }
        dec.Add(("out_norm", VaeNorm.Create(half, device)));
        dec.Add(("out_act", SiLU()));
        dec.Add(("out", Conv2d(half, config.ImageShape[0], 3, padding: 1, device: device)));
        decoder = Sequential(dec);
        if (config.Regularization == VaeRegularization.Vq) quantizer = new VectorQuantizer(config.CodebookSize, config.LatentChannels, device);
        RegisterComponents();
    }

    private static IEnumerable<(string, Module<Tensor, Tensor>)> Middle(int width, bool attention, Device device)
    {
        yield return ("mid0", new VaeResidualBlock(width, width, device));
        if (attention) yield return ("attention", new VaeSelfAttention(width, device));
        yield return ("mid1", new VaeResidualBlock(width, width, device));
    }

    public override VectorQuantizer? Quantizer => quantizer;

    protected override Tensor EncodePadded(Tensor x) => encoder.forward(x);

    protected override Tensor DecodePadded(Tensor z) => decoder.forward(z);
}
