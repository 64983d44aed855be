using static TorchSharp.torch;

namespace LatentDiffusion.Diffusion;

/// <summary>Which network of a diffusion model makes a prediction.</summary>
internal enum DenoiserRole
{
    /// <summary>The trained denoiser.</summary>
    Main,
    /// <summary>The weaker denoiser trained for autoguidance.</summary>
    Autoguidance,
}

/// <summary>One network prediction at a step: which network, and whether it sees the requested labels or the null class.</summary>
internal readonly record struct PredictionKey(DenoiserRole Network, bool Conditional);

/// <summary>
/// A guidance method: at the steps where it is active it asks for some network predictions besides the base one and
/// combines them into the prediction the sampler uses. The sampling loop is: gather every prediction the active
/// methods need (one batched pass per network), combine them method by method, interpret the objective, step.
/// Adding a method is a new class plus its settings and one line in <see cref="SamplingOptions.GuidanceMethods"/>.
/// </summary>
internal interface IGuidance
{
    /// <summary>Whether this method changes the prediction at timestep <paramref name="t"/> of <paramref name="timesteps"/>.</summary>
    bool IsActiveAt(int t, int timesteps);

    /// <summary>The predictions it needs at an active step, given the base prediction's key.</summary>
    IEnumerable<PredictionKey> Needs(PredictionKey basis);

    /// <summary>
    /// Combines the predictions into the new one. <paramref name="first"/> says whether this is the first method of
    /// the chain (see <see cref="GuidanceTerm.Extrapolate"/>).
    /// </summary>
    Tensor Combine(Tensor current, PredictionKey basis, IReadOnlyDictionary<PredictionKey, Tensor> predictions, bool first);

    /// <summary>Throws, naming the option, when the model lacks what this method needs.</summary>
    void Check(bool hasAutoguidanceDenoiser);
}

/// <summary>What guidance methods share.</summary>
internal static class GuidanceTerm
{
    /// <summary>
    /// Moves the prediction away from <paramref name="anchor"/> along (target - anchor) with scale s. Written as
    /// anchor + s (target - anchor) by the first method of a chain (the papers' form; there target is the current
    /// prediction) and as current + (s - 1)(target - anchor) by later ones: the same algebra, and the two spellings
    /// keep the rounding of models saved before guidance methods were objects.
    /// </summary>
    public static Tensor Extrapolate(Tensor current, Tensor target, Tensor anchor, double scale, bool first) =>
        first ? anchor + scale * (target - anchor) : current + (scale - 1) * (target - anchor);

    /// <summary>Whether timestep <paramref name="t"/> of <paramref name="timesteps"/> has its noise level (t + 1) / T in [low, high].</summary>
    public static bool InBand(int t, int timesteps, double low, double high)
    {
        double noiseLevel = (t + 1.0) / timesteps;
        return noiseLevel >= low && noiseLevel <= high;
    }
}
