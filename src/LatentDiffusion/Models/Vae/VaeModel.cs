
using static TorchSharp.torch;

namespace LatentDiffusion.Models.Vae;

/// <summary>
/// A trained VAE plus the per-channel shift and scale that give its latents unit variance (as LDM does), so that
/// diffusion sees standardised latents and decoding undoes the standardisation. Calls are serialised: TorchSharp
/// modules are not documented as safe for concurrent forward passes. Every tensor it makes lives on its device.
/// </summary>
internal sealed class VaeModel : IModelFamily<VaeConfig, VaeModel>
{
    private readonly object gate = new();
    private readonly float[] shift, scale;

    public VaeModel(VaeNetwork network, VaeConfig config, Device device)
    {
        Network = network;
        Config = config;
        Device = device;
        shift = config.LatentShift.Length == 0 ? new float[config.LatentChannels] : config.LatentShift;
        scale = config.LatentScale.Length == 0 ? Enumerable.Repeat(1f, config.LatentChannels).ToArray() : config.LatentScale;
        network.eval();
    }

    /// <inheritdoc/>
    public static void Validate(VaeConfig config, string source) => config.Validate(source);

    /// <inheritdoc/>
    public static long ParameterCount(VaeConfig config) => ModelFamily.CountOnMeta(device => VaeNetwork.Create(config, device));

    /// <inheritdoc/>
    public static VaeModel Build(VaeConfig config, Device device) => new(VaeNetwork.Create(config, device), config, device);

    public VaeNetwork Network { get; }
    /// <summary>The architecture and the latent standardisation.</summary>
    public VaeConfig Config { get; }
    public Device Device { get; }
    public int ImageSize => Config.ImageSize;
    public int LatentSize => Config.LatentSize;
    public int[] LatentShape => Config.LatentShape;

    /// <summary>The same network with its latent standardisation measured (after training).</summary>
    public VaeModel WithStandardisation(float[] latentShift, float[] latentScale)
    {
        var config = Config with { LatentShift = latentShift, LatentScale = latentScale };
        config.Validate("the trained VAE");
        return new VaeModel(Network, config, Device);
    }

    private Tensor ChannelVector(float[] values) => tensor(values, device: Device).view(1, -1, 1, 1);

    /// <summary>Standardised latents (the posterior mean, or a sample when <paramref name="seeds"/> is given) for flat images.</summary>
    public float[] Encode(float[] images, int rows, long[]? seeds = null)
    {
        lock (gate)
        {
            using var _ = no_grad();
            using var scope = NewDisposeScope();
            var (mean, logVar) = Network.Encode(tensor(images, [rows, ImageSize], device: Device));
            var z = mean;
            if (seeds is not null && logVar is not null)
            {
                // Drawn on the CPU from each row's own generator, so a row's sample depends on its seed alone, on any device.
                var noise = stack(seeds.Select(s =>
                {
                    using var g = Runtime.SeededGenerator.Create(s);
                    return randn(mean.shape[1..], generator: g, device: CPU);
                }).ToArray()).to(Device);
                z = mean + (0.5 * logVar).exp() * noise;
            }
            return ((z - ChannelVector(shift)) / ChannelVector(scale)).cpu().flatten().data<float>().ToArray();
        }
    }

    /// <summary>Images in [0,1] from standardised latents.</summary>
    public float[] Decode(float[] latents, int rows) => DecodeRaw(latents, rows, standardised: true);

    /// <summary>Images from standardised latents already on <see cref="Device"/> ([rows, ..LatentShape]), without a trip through the host.</summary>
    public float[] Decode(Tensor latents) => DecodeOnDevice(latents, standardised: true);

    /// <summary>Rows decoded per network call, so decoding many latents keeps activations small.</summary>
    private const int DecodeChunk = 512;

    /// <summary>Images from latents; <paramref name="standardised"/> false decodes raw latents (as drawn from the prior N(0, I)).</summary>
    public float[] DecodeRaw(float[] latents, int rows, bool standardised)
    {
        using var z = tensor(latents.AsSpan(0, rows * LatentSize).ToArray(), [rows, .. LatentShape.Select(d => (long)d)], device: Device);
        return DecodeOnDevice(z, standardised);
    }

    private float[] DecodeOnDevice(Tensor latents, bool standardised)
    {
        int rows = (int)latents.shape[0];
        var images = new float[rows * ImageSize];
        lock (gate)
        {
            using var _ = no_grad();
            for (int start = 0; start < rows; start += DecodeChunk)
            {
                using var scope = NewDisposeScope();
                var z = latents.narrow(0, start, Math.Min(DecodeChunk, rows - start));
                if (standardised) z = z * ChannelVector(scale) + ChannelVector(shift);
                Network.DecodeLogits(z).sigmoid().cpu().flatten().data<float>().CopyTo(images, start * ImageSize);
            }
        }
        return images;
    }

    /// <summary>Sum of squared pixel errors of decode(encode(x)) (the posterior mean) over <paramref name="rows"/> flat images.</summary>
    public double ReconstructionSquaredError(float[] images, int rows)
    {
        var reconstructed = Decode(Encode(images, rows), rows);
        double total = 0;
        for (int i = 0; i < rows * ImageSize; i++) total += (images[i] - reconstructed[i]) * (double)(images[i] - reconstructed[i]);
        return total;
    }

    /// <summary>Images decoded from raw latents drawn from the prior N(0, I) with one generator seeded by <paramref name="seed"/>.</summary>
    public float[] SamplePrior(int count, int seed)
    {
        var result = new float[count * ImageSize];
        using var generator = new Generator(unchecked((ulong)seed), CPU);
        for (int start = 0; start < count; start += DecodeChunk)
        {
            int n = Math.Min(DecodeChunk, count - start);
            float[] z;
            using (var noise = randn([n, LatentSize], generator: generator, device: CPU)) z = noise.data<float>().ToArray();
            DecodeRaw(z, n, standardised: false).CopyTo(result, start * ImageSize);
        }
        return result;
    }
}
