
using static TorchSharp.torch;

namespace LatentDiffusion.Models.Denoisers;

/// <summary>
/// The one place that turns a <see cref="DenoiserConfig"/> into a network. Adding a network is a new file plus one
/// entry here.
/// </summary>
internal static class DenoiserNetworks
{
    private sealed record Entry(Action<DenoiserConfig, string> Validate, Func<DenoiserConfig, Device, Denoiser> Build);

    private static readonly Dictionary<DenoiserKind, Entry> Registry = new()
    {
        [DenoiserKind.UNet] = new(DenoisingUnet.Validate, (config, device) => new DenoisingUnet(config, device)),
        [DenoiserKind.Mlp] = new(MlpDenoiser.Validate, (config, device) => new MlpDenoiser(config, device)),
    };

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
        config.Validate(data);
        if (!Registry.TryGetValue(config.Kind, out var entry))
            throw new ArgumentOutOfRangeException(nameof(DenoiserConfig.Kind), config.Kind,
                $"Unknown denoiser kind for {data}; expected one of {string.Join(", ", Registry.Keys)}.");
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
