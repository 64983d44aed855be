using TorchSharp;
using LatentDiffusion.MLNet.Persistence;
using static TorchSharp.torch;

namespace LatentDiffusion.Models;

/// <summary>
/// A trained VAE plus the per-channel shift and scale that give its latents unit variance (as LDM does), so that
/// diffusion sees standardised latents and decoding undoes the standardisation. Calls are serialised: TorchSharp
/// modules are not documented as safe for concurrent forward passes.
/// </summary>
internal sealed class VaeModel
{
    private readonly object gate = new();

    public VaeModel(ConvVae network, float[] shift, float[] scale, Device device)
    {
        Network = network;
        Shift = shift;
        Scale = scale;
        Device = device;
        network.eval();
    }

    public ConvVae Network { get; }
    public float[] Shift { get; }
    public float[] Scale { get; }
    public Device Device { get; }
    public int ImageSize => Network.ImageSide * Network.ImageSide;
    public int LatentSize => Network.LatentSize;
    public int[] LatentShape => [Network.LatentChannels, Network.LatentSide, Network.LatentSide];

    private Tensor ChannelVector(float[] values) => tensor(values).view(1, -1, 1, 1).to(Device);

    /// <summary>Standardised latents (the posterior mean, or a sample when <paramref name="seeds"/> is given) for flat images.</summary>
    public float[] Encode(float[] images, int rows, long[]? seeds = null)
    {
        lock (gate)
        {
            using var _ = no_grad();
            using var scope = NewDisposeScope();
            var (mean, logVar) = Network.Encode(tensor(images, [rows, ImageSize]).to(Device));
            var z = mean;
            if (seeds is not null)
            {
                var noise = stack(seeds.Select(s => { using var g = new Generator(unchecked((ulong)s)); return randn(mean.shape[1..], generator: g); }).ToArray()).to(Device);
                z = mean + (0.5 * logVar).exp() * noise;
            }
            return ((z - ChannelVector(Shift)) / ChannelVector(Scale)).cpu().flatten().data<float>().ToArray();
        }
    }

    /// <summary>Images in [0,1] from standardised latents.</summary>
    public float[] Decode(float[] latents, int rows) => DecodeRaw(latents, rows, standardised: true);

    /// <summary>Rows decoded per network call, so decoding many latents keeps activations small.</summary>
    private const int DecodeChunk = 512;

    /// <summary>Images from latents; <paramref name="standardised"/> false decodes raw latents (as drawn from the prior N(0, I)).</summary>
    public float[] DecodeRaw(float[] latents, int rows, bool standardised)
    {
        var images = new float[rows * ImageSize];
        lock (gate)
        {
            using var _ = no_grad();
            for (int start = 0; start < rows; start += DecodeChunk)
            {
                using var scope = NewDisposeScope();
                int n = Math.Min(DecodeChunk, rows - start);
                var z = tensor(latents.AsSpan(start * LatentSize, n * LatentSize).ToArray(), [n, Network.LatentChannels, Network.LatentSide, Network.LatentSide]).to(Device);
                if (standardised) z = z * ChannelVector(Scale) + ChannelVector(Shift);
                Network.DecodeLogits(z).sigmoid().cpu().flatten().data<float>().CopyTo(images, start * ImageSize);
            }
        }
        return images;
    }

    public void Write(BinaryWriter w)
    {
        w.Write(Network.ImageSide);
        w.Write(Network.LatentChannels);
        w.Write(Network.LatentSide);
        w.Write(Network.Width);
        foreach (var v in Shift) w.Write(v);
        foreach (var v in Scale) w.Write(v);
        WeightArchive.Write(w, Network);
    }

    public static VaeModel Read(BinaryReader r, Device device, string entry)
    {
        int side = r.ReadInt32(), channels = r.ReadInt32(), latentSide = r.ReadInt32(), width = r.ReadInt32();
        if (side is < 4 or > 4096 || channels is < 1 or > 1024 || latentSide < 1 || width is < 2 or > 4096)
            throw new InvalidDataException($"'{entry}' declares an impossible VAE shape ({side}, {channels}, {latentSide}, {width}).");
        var shift = Enumerable.Range(0, channels).Select(_ => r.ReadSingle()).ToArray();
        var scale = Enumerable.Range(0, channels).Select(_ => r.ReadSingle()).ToArray();
        var network = new ConvVae(side, channels, latentSide, width);
        WeightArchive.Read(r, network, entry);
        return new VaeModel(network.to(device), shift, scale, device);
    }
}
