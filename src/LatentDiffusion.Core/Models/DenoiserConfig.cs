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

    /// <summary>Largest accepted width, class count, side and depth: far beyond any model this library trains, small enough to allocate.</summary>
    public const int MaxWidth = 4096, MaxClasses = 100_000, MaxSide = 4096, MaxDepth = 64;

    /// <summary>Narrowest accepted width: every denoiser's time embedding takes width / 2 frequencies.</summary>
    public const int MinWidth = 4;

    /// <summary>
    /// The one width rule of every denoiser: an even number in <see cref="MinWidth"/>..<see cref="MaxWidth"/>.
    /// <paramref name="subject"/> starts the message ("LatentDiffusionOptions.Width").
    /// </summary>
    public static void CheckWidth(int width, string option, string subject, bool allowZero = false)
    {
        if (allowZero && width == 0) return;
        if (width is < MinWidth or > MaxWidth || width % 2 != 0)
            throw new ArgumentOutOfRangeException(option, width,
                $"{subject} must be an even number in {MinWidth}..{MaxWidth}{(allowZero ? ", or 0 for none" : "")}, got {width}.");
    }

    /// <summary>
    /// Checks what every denoiser needs, before anything is allocated: a known kind, a data shape and width within
    /// bounds, a class count. Each network adds its own rules where it is built. <paramref name="data"/> names the data
    /// in messages (a column, an entry).
    /// </summary>
    public void Validate(string data)
    {
        if (Kind is not (DenoiserKind.UNet or DenoiserKind.Mlp))
            throw new ArgumentOutOfRangeException(nameof(Kind), Kind,
                $"Unknown denoiser kind for {data}; expected one of {DenoiserKind.UNet}, {DenoiserKind.Mlp}.");
        if (DataShape is null || DataShape.Length == 0 || DataShape.Any(d => d is < 1 or > MaxSide))
            throw new ArgumentOutOfRangeException(data,
                $"The data shape of {data}, [{string.Join(", ", DataShape ?? [])}], must have every dimension in 1..{MaxSide}.");
        CheckWidth(Width, nameof(Width), $"The denoiser width for {data}");
        if (Classes is < 0 or > MaxClasses)
            throw new ArgumentOutOfRangeException(nameof(Classes), Classes, $"The class count for {data} must be in 0..{MaxClasses}.");
    }
}
