using TorchSharp.Modules;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace LatentDiffusion.Models.Denoisers;

/// <summary>
/// The UNet denoiser: two resolution levels for small inputs such as 7x7 latents (the lower level halves each side,
/// rounding up), or three for larger ones such as 28x28 pixels (28, 14, 7). Channels double below the top level.
/// Time and class embeddings are summed; class index <see cref="Denoiser.NullClass"/> means "unconditional" and is
/// what label dropout trains.
/// </summary>
internal sealed class DenoisingUnet : Denoiser
{
    // The field names are the weight names in saved models: renaming one breaks every model file.
    private readonly SinusoidalTimeEmbedding timeEmbedding;
    private readonly Sequential timeMlp;
    private readonly Embedding? classEmbedding;
    private readonly Conv2d input, downsample, output;
    private readonly ResidualTimeBlock high, low, middle, upBlock;
    // The third level (Levels = 3): another halving, its block, and the block that brings it back to the second level.
    private readonly Conv2d? downsample2;
    private readonly ResidualTimeBlock? lower, upBlock2;
    private readonly int channels, height, width;

    public DenoisingUnet(DenoiserConfig config, Device device) : base(nameof(DenoisingUnet), config)
    {
        (channels, height, width) = (config.DataShape[0], config.DataShape[1], config.DataShape[2]);
        int w = config.Width, emb = w * 2;
        timeEmbedding = new SinusoidalTimeEmbedding(w);
        timeMlp = Sequential(("fc1", Linear(w, emb, device: device)), ("act", SiLU()), ("fc2", Linear(emb, emb, device: device)));
        if (config.Classes > 0) classEmbedding = Embedding(config.Classes + 1, emb, device: device);

        input = Conv2d(channels, w, 3, padding: 1, device: device);
        high = new ResidualTimeBlock(w, w, emb, device);
        downsample = Conv2d(w, w * 2, 3, stride: 2, padding: 1, device: device);
        low = new ResidualTimeBlock(w * 2, w * 2, emb, device);
        middle = new ResidualTimeBlock(w * 2, w * 2, emb, device);
        if (config.Levels == 3)
        {
            downsample2 = Conv2d(w * 2, w * 2, 3, stride: 2, padding: 1, device: device);
            lower = new ResidualTimeBlock(w * 2, w * 2, emb, device);
            upBlock2 = new ResidualTimeBlock(w * 4, w * 2, emb, device);
        }
        upBlock = new ResidualTimeBlock(w * 3, w, emb, device);
        output = Conv2d(w, channels, 3, padding: 1, device: device);
        RegisterComponents();
        using (no_grad())
        {
            // Start as the zero predictor, which keeps early training stable.
            output.weight!.zero_();
            output.bias!.zero_();
        }
    }

    /// <summary>Resolution levels the UNet can have.</summary>
    public const int MinLevels = 2, MaxLevels = 3;

    /// <summary>What the UNet needs of its config beyond every denoiser's rules: (channels, height, width) data, 2 or 3 levels.</summary>
    public static void Validate(DenoiserConfig config, string data)
    {
        if (config.DataShape.Length != 3)
            throw new ArgumentOutOfRangeException(data,
                $"The UNet denoiser needs data shaped (channels, height, width), but {data} is shaped [{string.Join(", ", config.DataShape)}].");
        if (config.Levels is < MinLevels or > MaxLevels)
            throw new ArgumentOutOfRangeException(nameof(DenoiserConfig.Levels), config.Levels, $"The UNet for {data} has 2 or 3 resolution levels.");
        // Its group normalisation takes min(8, channels) groups of the width and of twice the width: they must divide.
        if (config.Width != 4 && config.Width % 8 != 0)
            throw new ArgumentOutOfRangeException(nameof(DenoiserConfig.Width), config.Width, $"The UNet for {data} needs a width of 4 or a multiple "
                + $"of 8 (its group normalisation splits the width's channels, and twice as many, into 8 groups); got {config.Width}.");
    }

    public override ScalarType DataType => input.weight!.dtype;

    public override double ForwardFlops()
    {
        int w = Config.Width, emb = 2 * w, hi = height * width, lo = (height + 1) / 2 * ((width + 1) / 2);
        int lowest = ((height + 1) / 2 + 1) / 2 * (((width + 1) / 2 + 1) / 2);
        static double Conv(double positions, int cin, int cout, int k) => 2.0 * positions * cin * cout * k * k;
        double blockEmbedding = 2.0 * emb * w;
        double flops = 2.0 * (w * emb + emb * emb);                                   // time MLP
        flops += Conv(hi, channels, w, 3);                                            // input
        flops += 2 * Conv(hi, w, w, 3) + 2 * blockEmbedding;                          // high block
        flops += Conv(lo, w, 2 * w, 3);                                               // downsample
        flops += 2 * (2 * Conv(lo, 2 * w, 2 * w, 3) + 2 * 2 * blockEmbedding);        // low and middle blocks
        flops += Conv(hi, 3 * w, w, 3) + Conv(hi, w, w, 3) + Conv(hi, 3 * w, w, 1) + 2 * blockEmbedding; // up block
        flops += Conv(hi, w, channels, 3);                                            // output
        if (Config.Levels == 3)
        {
            flops += Conv(lowest, 2 * w, 2 * w, 3) + 2 * Conv(lowest, 2 * w, 2 * w, 3) + 2 * 2 * blockEmbedding;   // downsample2, lower
            flops += 2 * (2 * Conv(lowest, 2 * w, 2 * w, 3)) - 2 * (2 * Conv(lo, 2 * w, 2 * w, 3));              // the middle block moves down a level
            flops += Conv(lo, 4 * w, 2 * w, 3) + Conv(lo, 2 * w, 2 * w, 3) + Conv(lo, 4 * w, 2 * w, 1) + 2 * 2 * blockEmbedding; // upBlock2
        }
        return flops;
    }

    /// <summary>Predicts the diffusion target for <paramref name="x"/> [N, C, H, W] at timesteps <paramref name="t"/> [N] with classes [N].</summary>
    public override Tensor forward(Tensor x, Tensor t, Tensor labels)
    {
        var dtype = DataType;
        x = x.to_type(dtype);
        var emb = timeMlp.forward(timeEmbedding.forward(t).to_type(dtype));
        if (classEmbedding is not null) emb = emb + classEmbedding.forward(labels);

        var h0 = high.forward(input.forward(x), emb);
        var h1 = low.forward(downsample.forward(h0), emb);
        if (downsample2 is not null && lower is not null && upBlock2 is not null)
        {
            var h2 = middle.forward(lower.forward(downsample2.forward(h1), emb), emb);
            var up2 = functional.interpolate(h2, size: [h1.shape[2], h1.shape[3]], mode: InterpolationMode.Nearest);
            h1 = upBlock2.forward(cat([up2, h1], 1), emb);
        }
        else h1 = middle.forward(h1, emb);
        var up = functional.interpolate(h1, size: [height, width], mode: InterpolationMode.Nearest);
        var h = upBlock.forward(cat([up, h0], 1), emb);
        return output.forward(h).to_type(float32);
    }
}
