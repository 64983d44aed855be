
namespace LatentDiffusion.Diffusion.Guidance;

/// <summary>
/// Autoguidance (Karras et al. 2024, "Guiding a diffusion model with a bad version of itself"): g + a (d - g), with
/// d the denoiser's prediction and g that of a smaller, shorter-trained denoiser of the same data and labels, on the
/// steps whose noise level lies in [<see cref="SamplingOptions.AutoguidanceMinNoise"/>,
/// <see cref="SamplingOptions.AutoguidanceMaxNoise"/>]. Samples move away from the errors a weaker model makes,
/// without pulling every sample towards its class average as classifier-free guidance does.
/// </summary>
/// <param name="scale">a.</param>
/// <param name="minNoise">Lower end of the noise band.</param>
/// <param name="maxNoise">Upper end of the noise band.</param>
public sealed class Autoguidance(double scale, double minNoise, double maxNoise) : IGuidance
{
    /// <summary>The method <paramref name="options"/> ask for, or null at scale 1 (off).</summary>
    public static Autoguidance? From(SamplingOptions options) =>
        options.AutoguidanceScale == 1 ? null : new(options.AutoguidanceScale, options.AutoguidanceMinNoise, options.AutoguidanceMaxNoise);

    /// <inheritdoc/>
    public bool IsActiveAt(int t, int timesteps) => NoiseBand.Contains(t, timesteps, minNoise, maxNoise);

    /// <summary>The weak model's prediction with the same labels as the base prediction.</summary>
    public IEnumerable<PredictionKey> Needs(PredictionKey basis) => [basis with { Network = DenoiserRole.Autoguidance }];

    /// <inheritdoc/>
    public TArray Combine<TArray>(TArray current, PredictionKey basis, IReadOnlyDictionary<PredictionKey, TArray> predictions, bool first)
        where TArray : class, ISampleArray<TArray> =>
        GuidanceTerm.Extrapolate(current, current, predictions[basis with { Network = DenoiserRole.Autoguidance }], scale, first);

    /// <inheritdoc/>
    public void Check(bool hasAutoguidanceDenoiser)
    {
        if (!hasAutoguidanceDenoiser)
            throw new ArgumentOutOfRangeException(nameof(SamplingOptions.AutoguidanceScale), scale,
                "SamplingOptions.AutoguidanceScale differs from 1 but the model has no autoguidance denoiser: train one with "
                    + "LatentDiffusionOptions.AutoguidanceWidth > 0, or set the scale to 1.");
    }
}
