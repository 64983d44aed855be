using static TorchSharp.torch;

namespace LatentDiffusion.Diffusion;

/// <summary>
/// Classifier-free guidance (Ho and Salimans, "Classifier-free diffusion guidance"): u + s (c - u), with c the
/// prediction for the requested label and u the unconditional one, on the steps whose noise level lies in
/// [<see cref="SamplingOptions.GuidanceMinNoise"/>, <see cref="SamplingOptions.GuidanceMaxNoise"/>]
/// (Kynkaanniemi et al., "Applying guidance in a limited interval"). Scales 0 and 1 need no second pass: 0 makes the
/// base prediction unconditional, 1 leaves it conditional.
/// </summary>
internal sealed class ClassifierFreeGuidance(double scale, double minNoise, double maxNoise) : IGuidance
{
    /// <summary>The method <paramref name="options"/> ask for on a model of <paramref name="classes"/> classes, or null when it changes nothing.</summary>
    public static ClassifierFreeGuidance? From(SamplingOptions options, int classes) =>
        classes == 0 || options.GuidanceScale is 0 or 1 ? null : new(options.GuidanceScale, options.GuidanceMinNoise, options.GuidanceMaxNoise);

    /// <summary>Whether the base prediction sees the requested labels: not at scale 0 (unconditional sampling) or on an unconditional model.</summary>
    public static bool BasisIsConditional(SamplingOptions options, int classes) => classes > 0 && options.GuidanceScale != 0;

    public bool IsActiveAt(int t, int timesteps) => NoiseBand.Contains(t, timesteps, minNoise, maxNoise);

    public IEnumerable<PredictionKey> Needs(PredictionKey basis) => [new(DenoiserRole.Main, true), new(DenoiserRole.Main, false)];

    public Tensor Combine(Tensor current, PredictionKey basis, IReadOnlyDictionary<PredictionKey, Tensor> predictions, bool first) =>
        GuidanceTerm.Extrapolate(current, predictions[new(DenoiserRole.Main, true)], predictions[new(DenoiserRole.Main, false)], scale, first);

    public void Check(bool hasAutoguidanceDenoiser) { }
}
