
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace LatentDiffusion.Models.Vae;

/// <summary>
/// What every VAE network does, whatever its layers: pad the image sides up to a multiple of the downsampling factor,
/// encode to mean and log-variance channels, decode latents to pixel logits and crop back. The subclasses own only
/// their encoder and decoder stacks; <see cref="Create"/> picks one from <see cref="VaeConfig.Architecture"/>.
/// </summary>
internal abstract class VaeNetwork : Module<Tensor, Tensor>
{
    protected VaeNetwork(string name, VaeConfig config) : base(name) => Config = config;

    /// <summary>The network <paramref name="config"/> describes, on <paramref name="device"/>, with fresh weights.</summary>
    public static VaeNetwork Create(VaeConfig config, Device device) => config.Architecture switch
    {
        VaeArchitecture.Plain => new ConvVae(config, device),
        VaeArchitecture.Residual => new ResidualVae(config, device),
        _ => throw new ArgumentOutOfRangeException(nameof(config), config.Architecture, "Unknown VAE architecture."),
    };

    public VaeConfig Config { get; }

    /// <summary>The weight of the decoder's last layer (in both architectures), where the adversarial term's adaptive weight compares gradients.</summary>
    public const string DecoderOutputWeight = "decoder.out.weight";

    /// <summary>The number format of the weights (float32 unless converted). Inputs and outputs are float32 whatever it is.</summary>
    public ScalarType DataType => parameters().First().dtype;

    /// <summary>The codebook of a VQ VAE; null for KL.</summary>
    public abstract VectorQuantizer? Quantizer { get; }

    /// <summary>Padded images [N, C, H', W'] in <see cref="DataType"/> to [N, encoder channels, h, w].</summary>
    protected abstract Tensor EncodePadded(Tensor x);

    /// <summary>Latents [N, C, h, w] in <see cref="DataType"/> to padded pixel logits [N, channels, H', W'].</summary>
    protected abstract Tensor DecodePadded(Tensor z);

    /// <summary>
    /// Mean and log-variance, each [N, C, h, w], of q(z|x) for flat images [N, image size]; for VQ the latent before
    /// quantisation and no log-variance.
    /// </summary>
    public (Tensor Mean, Tensor? LogVar) Encode(Tensor images)
    {
        var x = images.view([-1, .. Config.ImageShape.Select(d => (long)d)]);
        var padded = Config.PaddedShape;
        if (padded[1] != Config.ImageShape[1] || padded[2] != Config.ImageShape[2])
            x = functional.pad(x, [0, padded[2] - Config.ImageShape[2], 0, padded[1] - Config.ImageShape[1]]);
        var h = EncodePadded(x.to_type(DataType)).to_type(float32);
        if (Quantizer is not null) return (h, null);
        var parts = h.chunk(2, dim: 1);
        return (parts[0], parts[1].clamp(-30, 20));
    }

    /// <summary>
    /// Pixel logits [N, image size] for latents [N, C, h, w]; a VQ VAE first replaces each position by its nearest code,
    /// unless <paramref name="quantized"/> says the caller already did (training, with the straight-through gradient).
    /// </summary>
    public Tensor DecodeLogits(Tensor latents, bool quantized = false)
    {
        var z = latents.view([-1, .. Config.LatentShape.Select(d => (long)d)]);
        if (Quantizer is { } quantizer && !quantized) z = quantizer.forward(z);
        var y = DecodePadded(z.to_type(DataType));
        var padded = Config.PaddedShape;
        if (padded[1] != Config.ImageShape[1] || padded[2] != Config.ImageShape[2])
            y = y.narrow(2, 0, Config.ImageShape[1]).narrow(3, 0, Config.ImageShape[2]);
        return y.flatten(1).to_type(float32);
    }

    /// <summary>Reconstruction logits from the posterior mean.</summary>
    public override Tensor forward(Tensor images) => DecodeLogits(Encode(images).Mean);
}
