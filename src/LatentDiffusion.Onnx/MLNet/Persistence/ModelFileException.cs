namespace LatentDiffusion.MLNet;

/// <summary>
/// Thrown by <c>mlContext.Model.Load</c> (and by saving) when a model file of ours cannot be used: damaged,
/// truncated, written by a newer version, not written by this library, or describing a model that cannot be built or
/// holds weights that are not finite numbers. The message names the component and the entry and says what is wrong.
/// </summary>
public sealed class ModelFileException : IOException
{
    internal ModelFileException(string component, string? entry, string message, Exception? inner = null) : base(message, inner)
    {
        Component = component;
        Entry = entry;
    }

    /// <summary>The transformer being loaded, for example "DigitGeneratorTransformer".</summary>
    public string Component { get; }

    /// <summary>The zip entry at fault (for example "Config.json" or "Denoiser.weights"), or null when the fault is the component's header.</summary>
    public string? Entry { get; }
}
