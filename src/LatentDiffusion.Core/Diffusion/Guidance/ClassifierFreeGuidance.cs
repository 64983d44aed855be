
namespace LatentDiffusion.Diffusion.Guidance;

/// <summary>
/// Classifier-free guidance (Ho and Salimans, "Classifier-free diffusion guidance"): u + s (c - u), with c the
/// prediction for the requested label and u the unconditional one, on the steps whose noise level lies in
/// [<see cref="SamplingOptions.GuidanceMinNoise"/>, <see cref="SamplingOptions.GuidanceMaxNoise"/>]
/// (Kynkaanniemi et al., "Applying guidance in a limited interval"). Scales 0 and 1 need no second pass: 0 makes the
/// base prediction unconditional, 1 leaves it conditional.
/// </summary>
/// <param name="scale">s.</param>
/// <param name="minNoise">Lower end of the noise band.</param>
/// <param name="maxNoise">Upper end of the noise band.</param>
public sealed class ClassifierFreeGuidance(double scale, double minNoise, double maxNoise) : IGuidance
{
    /// <summary>The method <paramref name="options"/> ask for on a model of <paramref name="classes"/> classes, or null when it changes nothing.</summary>
    public static ClassifierFreeGuidance? From(SamplingOptions options, int classes) =>
        classes == 0 || options.GuidanceScale is 0 or 1 ? null : new(options.GuidanceScale, options.GuidanceMinNoise, options.GuidanceMaxNoise);

    /// <summary>Whether the base prediction sees the requested labels: not at scale 0 (unconditional sampling) or on an unconditional model.</summary>
    public static bool BasisIsConditional(SamplingOptions options, int classes) => classes > 0 && options.GuidanceScale != 0;

    /// <inheritdoc/>
    public bool IsActiveAt(int t, int timesteps) => NoiseBand.Contains(t, timesteps, minNoise, maxNoise);

    /// <inheritdoc/>
    public IEnumerable<PredictionKey> Needs(PredictionKey basis) => [new(DenoiserRole.Main, true), new(DenoiserRole.Main, false)];

    /// <inheritdoc/>
    public TArray Combine<TArray>(TArray current, PredictionKey basis, IReadOnlyDictionary<PredictionKey, TArray> predictions, bool first)
        where TArray : class, ISampleArray<TArray> =>
        GuidanceTerm.Extrapolate(current, predictions[new(DenoiserRole.Main, true)], predictions[new(DenoiserRole.Main, false)], scale, first);

    /// <inheritdoc/>
    public void Check(bool hasAutoguidanceDenoiser) { }
}
