using TorchSharp.Modules;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace LatentDiffusion.Models.Vae;

/// <summary>
/// The plain VAE (<see cref="VaeArchitecture.Plain"/>; every file saved before residual VAEs existed): strided
/// convolutions and SiLU halve the image sides once or twice and output mean and log-variance channels; the decoder
/// mirrors it with transposed convolutions and returns pixel logits.
/// </summary>
internal sealed class ConvVae : VaeNetwork
{
    // The field names are the weight names in saved models.
    private readonly Sequential encoder, decoder;
    private readonly VectorQuantizer? quantizer;

    public ConvVae(VaeConfig config, Device device) : base(nameof(ConvVae), config)
    {
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
        enc.Add(("out", Conv2d(width, config.EncoderChannels, 3, padding: 1, device: device)));
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
        if (config.Regularization == VaeRegularization.Vq) quantizer = new VectorQuantizer(config.CodebookSize, config.LatentChannels, device);
        RegisterComponents();
    }

    public override VectorQuantizer? Quantizer => quantizer;

    protected override Tensor EncodePadded(Tensor x) => encoder.forward(x);

    protected override Tensor DecodePadded(Tensor z) => decoder.forward(z);
}
