using System.Text.Json.Serialization;
using TorchSharp;
using static TorchSharp.torch;

namespace LatentDiffusion.Models;

/// <summary>Which network learns to denoise.</summary>
public enum DenoiserKind
{
    /// <summary>Chosen from the data's shape: the UNet for images (channels x height x width), the MLP for anything else.</summary>
    Auto,
    /// <summary>A two-level UNet with time-conditioned residual conv blocks (seed 000); for data shaped (channels, height, width).</summary>
    UNet,
    /// <summary>Residual MLP blocks with the same time and class embeddings (seed 001); for vectors, or any shape taken flat.</summary>
    Mlp,
}

/// <summary>
/// Everything needed to rebuild a denoiser network before its weights are loaded: what kind, for which data shape,
/// how wide, how many classes. It is what a saved model stores about the network.
/// </summary>
public sealed record DenoiserConfig
{
    /// <summary>The network; never <see cref="DenoiserKind.Auto"/> once built.</summary>
    public DenoiserKind Kind { get; init; } = DenoiserKind.UNet;

    /// <summary>Shape of one sample: (channels, height, width) for images, (length) for vectors.</summary>
    public int[] DataShape { get; init; } = [];

    /// <summary>Channels (or units) at full resolution.</summary>
    public int Width { get; init; } = 48;

    /// <summary>Number of classes the network is conditioned on; 0 = unconditional.</summary>
    public int Classes { get; init; }

    /// <summary>Residual blocks of the MLP; the UNet ignores it.</summary>
    public int Depth { get; init; } = 4;

    /// <summary>Resolution levels of the UNet, 2 or 3 (each level halves the sides); the MLP ignores it.</summary>
    public int Levels { get; init; } = 2;

    /// <summary>Floats in one sample.</summary>
    [JsonIgnore]
    public int DataSize => DataShape.Aggregate(1, (a, b) => a * b);

    /// <summary>The class index that stands for "no label" (what label dropout trains, and unconditional sampling asks for).</summary>
    [JsonIgnore]
    public int NullClass => Classes;
}

/// <summary>
/// A network that predicts the diffusion target for noisy data x at timesteps t with class labels (the null class =
/// no label). Takes and returns float32 whatever the number format of its weights.
/// </summary>
internal abstract class Denoiser(string name, DenoiserConfig config) : nn.Module<Tensor, Tensor, Tensor, Tensor>(name)
{
    public DenoiserConfig Config { get; } = config;

    public int Classes => Config.Classes;

    public int NullClass => Config.NullClass;

    /// <summary>The number format of the weights (float32 unless converted).</summary>
    public abstract ScalarType DataType { get; }

    /// <summary>Analytic floating-point operations (2 per multiply-add) of one forward pass for one sample.</summary>
    public abstract double ForwardFlops();
}

/// <summary>
/// The one place that turns a <see cref="DenoiserConfig"/> into a network. Adding a network is a new file plus one
/// entry here.
/// </summary>
internal static class Denoisers
{
    private sealed record Entry(Action<DenoiserConfig, string> Validate, Func<DenoiserConfig, Device, Denoiser> Build);

    private static readonly Dictionary<DenoiserKind, Entry> Registry = new()
    {
        [DenoiserKind.UNet] = new(DenoisingUnet.Validate, (config, device) => new DenoisingUnet(config, device)),
        [DenoiserKind.Mlp] = new(MlpDenoiser.Validate, (config, device) => new MlpDenoiser(config, device)),
    };

    /// <summary>Largest accepted width, class count, side and depth: far beyond any model this library trains, small enough to allocate.</summary>
    public const int MaxWidth = 4096, MaxClasses = 100_000, MaxSide = 4096, MaxDepth = 64;

    /// <summary>The network for data shaped <paramref name="shape"/> when the user left the choice to us; <paramref name="column"/> names the data.</summary>
    public static DenoiserKind Resolve(DenoiserKind requested, int[] shape, string column) => requested switch
    {
        DenoiserKind.Auto => shape.Length == 3 ? DenoiserKind.UNet : DenoiserKind.Mlp,
        _ => requested,
    };

    /// <summary>
    /// Checks <paramref name="config"/> before anything is allocated: a known kind, a data shape and width within bounds,
    /// and whatever the network itself needs. <paramref name="data"/> names the data in messages (a column, an entry).
    /// </summary>
    public static void Validate(DenoiserConfig config, string data)
    {
        ArgumentNullException.ThrowIfNull(config);
        if (!Registry.TryGetValue(config.Kind, out var entry))
            throw new ArgumentOutOfRangeException(nameof(DenoiserConfig.Kind), config.Kind, $"Unknown denoiser kind for {data}; expected one of {string.Join(", ", Registry.Keys)}.");
        if (config.DataShape is null || config.DataShape.Length == 0 || config.DataShape.Any(d => d is < 1 or > MaxSide))
            throw new ArgumentOutOfRangeException(data, $"The data shape of {data}, [{string.Join(", ", config.DataShape ?? [])}], must have every dimension in 1..{MaxSide}.");
        if (config.Width is < 2 or > MaxWidth)
            throw new ArgumentOutOfRangeException(nameof(DenoiserConfig.Width), config.Width, $"The denoiser width for {data} must be in 2..{MaxWidth}.");
        if (config.Classes is < 0 or > MaxClasses)
            throw new ArgumentOutOfRangeException(nameof(DenoiserConfig.Classes), config.Classes, $"The class count for {data} must be in 0..{MaxClasses}.");
        entry.Validate(config, data);
    }

    /// <summary>
    /// The number of weights a config's network has, counted on a network built on the "meta" device, which allocates
    /// nothing: how a declared size is checked before anything real is allocated.
    /// </summary>
    public static long ParameterCount(DenoiserConfig config)
    {
        Validate(config, "the denoiser");
        using var network = Registry[config.Kind].Build(config, new Device("meta"));
        return network.parameters().Sum(p => p.numel());
    }

    /// <summary>Builds the network of a validated <paramref name="config"/> with its weights on <paramref name="device"/>.</summary>
    public static Denoiser Create(DenoiserConfig config, Device device)
    {
        Validate(config, "the denoiser");
        return Registry[config.Kind].Build(config, device);
    }
}
