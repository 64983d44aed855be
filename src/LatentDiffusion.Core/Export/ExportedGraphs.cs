
namespace LatentDiffusion.Export;

/// <summary>
/// The inputs and outputs of the exported graphs, named once for the exporter and the runtime. A denoiser takes
/// <see cref="Sample"/> [N, ..data shape] (float32), <see cref="Timestep"/> [N] (float32) and, when class-conditional,
/// <see cref="Labels"/> [N] (int64; the class count itself is the null class), and gives <see cref="Prediction"/>
/// [N, ..data shape]. A decoder takes <see cref="Latents"/> [N, ..data shape] and gives <see cref="Images"/>
/// [N, channels, height, width] in [0, 1].
/// </summary>
public static class ExportedGraphs
{
    /// <summary>The denoiser's noisy sample.</summary>
    public const string Sample = "x";

    /// <summary>The denoiser's timesteps.</summary>
    public const string Timestep = "t";

    /// <summary>The denoiser's class labels.</summary>
    public const string Labels = "labels";

    /// <summary>The denoiser's output.</summary>
    public const string Prediction = "prediction";

    /// <summary>The decoder's input.</summary>
    public const string Latents = "latents";

    /// <summary>The decoder's output.</summary>
    public const string Images = "images";
}
