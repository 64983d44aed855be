using static TorchSharp.torch;

namespace LatentDiffusion.Diffusion;

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
