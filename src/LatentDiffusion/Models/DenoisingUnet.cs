using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace LatentDiffusion.Models;

/// <summary>Sinusoidal embedding of the timestep with log-spaced frequencies (seed 000).</summary>
internal sealed class SinusoidalTimeEmbedding : Module<Tensor, Tensor>
{
    private readonly int half;
    private readonly double logScale;

    public SinusoidalTimeEmbedding(int dim, double scale = 1000) : base(nameof(SinusoidalTimeEmbedding))
    {
        half = dim / 2;
        logScale = Math.Log(scale);
    }

    /// <summary>Always float32, on <paramref name="t"/>'s device, whatever the module's dtype: timesteps up to T need the precision.</summary>
    public override Tensor forward(Tensor t)
    {
        var frequencies = exp(arange(half, dtype: float32, device: t.device) * (-logScale / (half - 1)));
        var args = t.to_type(float32).unsqueeze(1) * frequencies.unsqueeze(0);
        return cat([args.sin(), args.cos()], 1);
    }
}

/// <summary>
/// Seed 000's <c>TimeEmbeddingConvBlock</c>: conv, then norm, plus a linear projection of the (time + class)
/// embedding broadcast over space, then the activation.
/// </summary>
internal sealed class TimeEmbeddingConvBlock : Module<Tensor, Tensor, Tensor>
{
    private readonly Conv2d conv;
    private readonly GroupNorm norm;
    private readonly Linear embedding;

    public TimeEmbeddingConvBlock(int inChannels, int outChannels, int embeddingSize) : base(nameof(TimeEmbeddingConvBlock))
    {
        conv = Conv2d(inChannels, outChannels, 3, padding: 1);
        norm = GroupNorm(Math.Min(8, outChannels), outChannels);
        embedding = Linear(embeddingSize, outChannels);
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

/// <summary>Two time-conditioned conv blocks with a residual connection (a 1x1 conv when channels change).</summary>
internal sealed class ResidualTimeBlock : Module<Tensor, Tensor, Tensor>
{
    private readonly TimeEmbeddingConvBlock first, second;
    private readonly Module<Tensor, Tensor> skip;

    public ResidualTimeBlock(int inChannels, int outChannels, int embeddingSize) : base(nameof(ResidualTimeBlock))
    {
        first = new TimeEmbeddingConvBlock(inChannels, outChannels, embeddingSize);
        second = new TimeEmbeddingConvBlock(outChannels, outChannels, embeddingSize);
        skip = inChannels == outChannels ? Identity() : Conv2d(inChannels, outChannels, 1);
        RegisterComponents();
    }

    public override Tensor forward(Tensor x, Tensor emb) => skip.forward(x) + second.forward(first.forward(x, emb), emb);
}

/// <summary>
/// The denoiser: a two-level UNet for small latents. The lower level halves the side once (7x7 becomes 4x4; a
/// second halving would leave almost nothing). Time and class embeddings are summed; class index
/// <see cref="NullClass"/> means "unconditional" and is what label dropout trains.
/// </summary>
internal sealed class DenoisingUnet : Module<Tensor, Tensor, Tensor, Tensor>
{
    private readonly SinusoidalTimeEmbedding timeEmbedding;
    private readonly Sequential timeMlp;
    private readonly Embedding? classEmbedding;
    private readonly Conv2d input, downsample, output;
    private readonly ResidualTimeBlock high, low, middle, upBlock;
    private readonly int side;

    public DenoisingUnet(int channels, int side, int width, int classes) : base(nameof(DenoisingUnet))
    {
        Channels = channels;
        this.side = side;
        Classes = classes;
        Width = width;
        int emb = width * 2;
        timeEmbedding = new SinusoidalTimeEmbedding(width);
        timeMlp = Sequential(("fc1", Linear(width, emb)), ("act", SiLU()), ("fc2", Linear(emb, emb)));
        if (classes > 0) classEmbedding = Embedding(classes + 1, emb);

        input = Conv2d(channels, width, 3, padding: 1);
        high = new ResidualTimeBlock(width, width, emb);
        downsample = Conv2d(width, width * 2, 3, stride: 2, padding: 1);
        low = new ResidualTimeBlock(width * 2, width * 2, emb);
        middle = new ResidualTimeBlock(width * 2, width * 2, emb);
        upBlock = new ResidualTimeBlock(width * 3, width, emb);
        output = Conv2d(width, channels, 3, padding: 1);
        RegisterComponents();
        using (no_grad())
        {
            // Start as the zero predictor, which keeps early training stable.
            output.weight!.zero_();
            output.bias!.zero_();
        }
    }

    public int Channels { get; }
    public int Classes { get; }
    public int Width { get; private init; }

    /// <summary>The number format of the weights (float32 unless converted).</summary>
    public ScalarType DataType => input.weight!.dtype;

    /// <summary>Analytic floating-point operations (2 per multiply-add) of one forward pass for one sample: convolutions and linear layers.</summary>
    public double ForwardFlops()
    {
        int w = Width, emb = 2 * w, hi = side * side, lo = (side + 1) / 2 * ((side + 1) / 2);
        static double Conv(double positions, int cin, int cout, int k) => 2.0 * positions * cin * cout * k * k;
        double blockEmbedding = 2.0 * emb * w;
        double flops = 2.0 * (w * emb + emb * emb);                                   // time MLP
        flops += Conv(hi, Channels, w, 3);                                            // input
        flops += 2 * Conv(hi, w, w, 3) + 2 * blockEmbedding;                          // high block
        flops += Conv(lo, w, 2 * w, 3);                                               // downsample
        flops += 2 * (2 * Conv(lo, 2 * w, 2 * w, 3) + 2 * 2 * blockEmbedding);        // low and middle blocks
        flops += Conv(hi, 3 * w, w, 3) + Conv(hi, w, w, 3) + Conv(hi, 3 * w, w, 1) + 2 * blockEmbedding; // up block
        flops += Conv(hi, w, Channels, 3);                                            // output
        return flops;
    }

    /// <summary>The class index that stands for "no label".</summary>
    public int NullClass => Classes;

    /// <summary>
    /// Predicts the network target for latents <paramref name="x"/> [N,C,h,w] at timesteps <paramref name="t"/> [N] with
    /// classes [N] (or null). Takes and returns float32 whatever the weights' number format (<see cref="DataType"/>).
    /// </summary>
    public override Tensor forward(Tensor x, Tensor t, Tensor labels)
    {
        var dtype = DataType;
        x = x.to_type(dtype);
        var emb = timeMlp.forward(timeEmbedding.forward(t).to_type(dtype));
        if (classEmbedding is not null) emb = emb + classEmbedding.forward(labels);

        var h0 = high.forward(input.forward(x), emb);
        var h1 = middle.forward(low.forward(downsample.forward(h0), emb), emb);
        var up = functional.interpolate(h1, size: [side, side], mode: InterpolationMode.Nearest);
        var h = upBlock.forward(cat([up, h0], 1), emb);
        return output.forward(h).to_type(float32);
    }
}
