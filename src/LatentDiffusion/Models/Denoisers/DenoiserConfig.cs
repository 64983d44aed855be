using System.Text.Json.Serialization;

namespace LatentDiffusion.Models;

/// <summary>Which network learns to denoise.</summary>
public enum DenoiserKind
{
    /// <summary>Chosen from the data's shape: the UNet for images (channels x height x width), the MLP for anything else.</summary>
    Auto,
    /// <summary>A two-level UNet with time-conditioned residual conv blocks (the reference MNIST UNet); for data shaped (channels, height, width).</summary>
    UNet,
    /// <summary>Residual MLP blocks with the same time and class embeddings (the point-cloud denoiser); for vectors, or any shape taken flat.</summary>
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
