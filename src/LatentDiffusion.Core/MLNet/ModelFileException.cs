
namespace LatentDiffusion.MLNet;

/// <summary>
/// Thrown by <c>mlContext.Model.Load</c> (and by saving), and by opening an exported folder, when a model file of ours
/// cannot be used: damaged, truncated, edited, written by a newer version, not written by this library, or describing a
/// model that cannot be built or holds weights that are not finite numbers. The message names the component and the
/// entry (or file) and says what is wrong.
/// </summary>
public sealed class ModelFileException : IOException
{
    /// <summary>A failure of <paramref name="component"/>'s <paramref name="entry"/>.</summary>
    /// <param name="component">What was being loaded ("DigitGeneratorTransformer", "OnnxGenerator").</param>
    /// <param name="entry">The zip entry or file at fault, or null for the component's header.</param>
    /// <param name="message">One sentence: the file, the setting, what was expected and what was found.</param>
    /// <param name="inner">The underlying error.</param>
    public ModelFileException(string component, string? entry, string message, Exception? inner = null) : base(message, inner)
    {
        Component = component;
        Entry = entry;
    }

    /// <summary>The transformer being loaded, for example "DigitGeneratorTransformer".</summary>
    public string Component { get; }

    /// <summary>
    /// The zip entry or file at fault (for example "Config.json", "Denoiser.weights" or "denoiser.onnx"), or null when
    /// the fault is the component's header.
    /// </summary>
    public string? Entry { get; }
}
