using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace LatentDiffusion.Models;

/// <summary>
/// A convolutional VAE with a spatial latent: the encoder halves the image sides once or twice and outputs mean and
/// log-variance channels; the decoder mirrors it with transposed convolutions and returns pixel logits. Images of any
/// size: sides are padded with zeros up to a multiple of the downsampling factor before encoding, and the decoder's
/// output is cropped back.
/// </summary>
internal sealed class ConvVae : Module<Tensor, Tensor>
{
    // The field names are the weight names in saved models.
    private readonly Sequential encoder, decoder;

    public ConvVae(VaeConfig config, Device device) : base(nameof(ConvVae))
    {
        Config = config;
        int width = config.Width, half = width / 2, halvings = config.Downsampling == 2 ? 1 : 2;

        var enc = new List<(string, Module<Tensor, Tensor>)> { ("in", Conv2d(config.ImageShape[0], half, 3, padding: 1, device: device)), ("in_act", SiLU()) };
        int c = half;
        for (int i = 0; i < halvings; i++)
        {
            enc.Add(($"down{i}", Conv2d(c, width, 4, stride: 2, padding: 1, device: device)));
            enc.Add(($"down{i}_act", SiLU()));
            c = width;
        }
        enc.Add(("mid", Conv2d(width, width, 3, padding: 1, device: device)));
        enc.Add(("mid_act", SiLU()));
        enc.Add(("out", Conv2d(width, 2 * config.LatentChannels, 3, padding: 1, device: device)));
        encoder = Sequential(enc);

        var dec = new List<(string, Module<Tensor, Tensor>)>
        {
            ("in", Conv2d(config.LatentChannels, width, 3, padding: 1, device: device)), ("in_act", SiLU()),
            ("mid", Conv2d(width, width, 3, padding: 1, device: device)), ("mid_act", SiLU()),
        };
        for (int i = 0; i < halvings; i++)
        {
            int cout = i == halvings - 1 ? half : width;
            dec.Add(($"up{i}", ConvTranspose2d(width, cout, 4, stride: 2, padding: 1, device: device)));
            dec.Add(($"up{i}_act", SiLU()));
        }
        dec.Add(("out", Conv2d(half, config.ImageShape[0], 3, padding: 1, device: device)));
        decoder = Sequential(dec);
        RegisterComponents();
    }

    public VaeConfig Config { get; }

    /// <summary>The number format of the weights (float32 unless converted). Inputs and outputs are float32 whatever it is.</summary>
    public ScalarType DataType => decoder.parameters().First().dtype;

    /// <summary>Mean and log-variance, each [N, C, h, w], of q(z|x) for flat images [N, image size].</summary>
    public (Tensor Mean, Tensor LogVar) Encode(Tensor images)
    {
        var x = images.view([-1, .. Config.ImageShape.Select(d => (long)d)]);
        var padded = Config.PaddedShape;
        if (padded[1] != Config.ImageShape[1] || padded[2] != Config.ImageShape[2])
            x = functional.pad(x, [0, padded[2] - Config.ImageShape[2], 0, padded[1] - Config.ImageShape[1]]);
        var h = encoder.forward(x.to_type(DataType)).to_type(float32);
        var parts = h.chunk(2, dim: 1);
        return (parts[0], parts[1].clamp(-30, 20));
    }

    /// <summary>Pixel logits [N, image size] for latents [N, C, h, w].</summary>
    public Tensor DecodeLogits(Tensor latents)
    {
        var y = decoder.forward(latents.view([-1, .. Config.LatentShape.Select(d => (long)d)]).to_type(DataType));
        var padded = Config.PaddedShape;
        if (padded[1] != Config.ImageShape[1] || padded[2] != Config.ImageShape[2])
            y = y.narrow(2, 0, Config.ImageShape[1]).narrow(3, 0, Config.ImageShape[2]);
        return y.flatten(1).to_type(float32);
    }

    /// <summary>Reconstruction logits from the posterior mean.</summary>
    public override Tensor forward(Tensor images) => DecodeLogits(Encode(images).Mean);
}
