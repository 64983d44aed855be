using static TorchSharp.torch;

namespace LatentDiffusion.Models;

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
            throw new ArgumentOutOfRangeException(nameof(DenoiserConfig.Kind), config.Kind,
                $"Unknown denoiser kind for {data}; expected one of {string.Join(", ", Registry.Keys)}.");
        if (config.DataShape is null || config.DataShape.Length == 0 || config.DataShape.Any(d => d is < 1 or > MaxSide))
            throw new ArgumentOutOfRangeException(data,
                $"The data shape of {data}, [{string.Join(", ", config.DataShape ?? [])}], must have every dimension in 1..{MaxSide}.");
        CheckWidth(config.Width, nameof(DenoiserConfig.Width), $"The denoiser width for {data}");
        if (config.Classes is < 0 or > MaxClasses)
            throw new ArgumentOutOfRangeException(nameof(DenoiserConfig.Classes), config.Classes, $"The class count for {data} must be in 0..{MaxClasses}.");
        entry.Validate(config, data);
    }

    /// <summary>
    /// The number of weights a config's network has, counted on a network built on the "meta" device, which allocates
    /// nothing: how a declared size is checked before anything real is allocated. The config has passed
    /// <see cref="Validate"/> (at the boundary: the options, or the file it was read from).
    /// </summary>
    public static long ParameterCount(DenoiserConfig config) => ModelFamily.CountOnMeta(device => Registry[config.Kind].Build(config, device));

    /// <summary>
    /// Builds the network of a validated <paramref name="config"/> (see <see cref="ParameterCount"/>) with its weights
    /// on <paramref name="device"/>.
    /// </summary>
    public static Denoiser Create(DenoiserConfig config, Device device) => Registry[config.Kind].Build(config, device);
}
