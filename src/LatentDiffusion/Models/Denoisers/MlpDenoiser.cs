using TorchSharp.Modules;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace LatentDiffusion.Models.Denoisers;

/// <summary>
/// A pre-norm residual MLP block conditioned on the (time + class) embedding: h + W2 GELU(W1 GELU(norm h) + P silu(emb)).
/// GELU, as the reference point-cloud denoiser has.
/// </summary>
internal sealed class ResidualMlpBlock : Module<Tensor, Tensor, Tensor>
{
    private readonly LayerNorm norm;
    private readonly Linear first, embedding, second;

    public ResidualMlpBlock(int width, int embeddingSize, Device device) : base(nameof(ResidualMlpBlock))
    {
        norm = LayerNorm(width, device: device);
        first = Linear(width, width, device: device);
        embedding = Linear(embeddingSize, width, device: device);
        second = Linear(width, width, device: device);
        RegisterComponents();
    }

    public override Tensor forward(Tensor h, Tensor emb)
    {
        var y = first.forward(functional.gelu(norm.forward(h))) + embedding.forward(functional.silu(emb));
        return h + second.forward(functional.gelu(y));
    }
}

/// <summary>
/// The denoiser for plain vectors (the point-cloud experiments): the noisy vector and the timestep go through residual MLP blocks. It has
/// the UNet's sinusoidal time embedding and class embedding with a null class for label dropout, so guidance and
/// unconditional sampling work the same way. Data of any shape is taken flat.
/// </summary>
internal sealed class MlpDenoiser : Denoiser
{
    // The field names are the weight names in saved models.
    private readonly SinusoidalTimeEmbedding timeEmbedding;
    private readonly Sequential timeMlp;
    private readonly Embedding? classEmbedding;
    private readonly Linear input, output;
    private readonly ModuleList<ResidualMlpBlock> blocks;
    private readonly LayerNorm norm;
    private readonly long[] shape;

    public MlpDenoiser(DenoiserConfig config, Device device) : base(nameof(MlpDenoiser), config)
    {
        shape = config.DataShape.Select(d => (long)d).ToArray();
        int w = config.Width, emb = 2 * w, size = config.DataSize;
        timeEmbedding = new SinusoidalTimeEmbedding(w);
        timeMlp = Sequential(("fc1", Linear(w, emb, device: device)), ("act", SiLU()), ("fc2", Linear(emb, emb, device: device)));
        if (config.Classes > 0) classEmbedding = Embedding(config.Classes + 1, emb, device: device);
        input = Linear(size, w, device: device);
        blocks = new ModuleList<ResidualMlpBlock>(Enumerable.Range(0, config.Depth).Select(_ => new ResidualMlpBlock(w, emb, device)).ToArray());
        norm = LayerNorm(w, device: device);
        output = Linear(w, size, device: device);
        RegisterComponents();
        using (no_grad())
        {
            // Start as the zero predictor, as the UNet does.
            output.weight!.zero_();
            output.bias!.zero_();
        }
    }

    /// <summary>What the MLP needs of its config beyond every denoiser's rules: 1..64 blocks and a first layer that fits.</summary>
    public static void Validate(DenoiserConfig config, string data)
    {
        if (config.Depth is < 1 or > DenoiserConfig.MaxDepth)
            throw new ArgumentOutOfRangeException(nameof(DenoiserConfig.Depth), config.Depth,
                $"The MLP depth for {data} must be in 1..{DenoiserConfig.MaxDepth}.");
        if ((long)config.DataSize * config.Width > 1L << 28)
            throw new ArgumentOutOfRangeException(data,
                $"An MLP of width {config.Width} over {config.DataSize} values per sample ({data}) would need more than 2^28 weights in its first layer.");
    }

    public override ScalarType DataType => input.weight!.dtype;

    public override double ForwardFlops()
    {
        double w = Config.Width, emb = 2 * w, size = Config.DataSize;
        double flops = 2 * (w * emb + emb * emb);                 // time MLP
        flops += 2 * size * w;                                   // input
        flops += Config.Depth * 2 * (w * w + emb * w + w * w);   // blocks
        flops += 2 * w * size;                                   // output
        return flops;
    }

    /// <summary>Predicts the diffusion target for <paramref name="x"/> [N, ...shape] at timesteps <paramref name="t"/> [N] with classes [N].</summary>
    public override Tensor forward(Tensor x, Tensor t, Tensor labels)
    {
        var dtype = DataType;
        var emb = timeMlp.forward(timeEmbedding.forward(t).to_type(dtype));
        if (classEmbedding is not null) emb = emb + classEmbedding.forward(labels);
        var h = input.forward(x.flatten(1).to_type(dtype));
        foreach (var block in blocks) h = block.forward(h, emb);
        return output.forward(functional.gelu(norm.forward(h))).to_type(float32).view([-1, .. shape]);
    }
}
