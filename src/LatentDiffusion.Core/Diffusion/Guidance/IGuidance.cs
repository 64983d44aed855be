
namespace LatentDiffusion.Diffusion.Guidance;

/// <summary>
/// A guidance method: at the steps where it is active it asks for some network predictions besides the base one and
/// combines them into the prediction the sampler uses. The sampling loop (<see cref="SamplingLoop"/>) gathers every
/// prediction the active methods need (one batched pass per network), combines them method by method, interprets the
/// objective and steps. Written over <see cref="ISampleArray{TSelf}"/>, so both engines run the same rule.
/// </summary>
/// <remarks>Adding a method is a new class plus its settings and one line in <see cref="SamplingOptions.GuidanceMethods"/>.</remarks>
public interface IGuidance
{
    /// <summary>Whether this method changes the prediction at timestep <paramref name="t"/> of <paramref name="timesteps"/>.</summary>
    bool IsActiveAt(int t, int timesteps);

    /// <summary>The predictions it needs at an active step, given the base prediction's key.</summary>
    IEnumerable<PredictionKey> Needs(PredictionKey basis);

    /// <summary>
    /// Combines the predictions into the new one. <paramref name="first"/> says whether this is the first method of
    /// the chain (see <see cref="GuidanceTerm.Extrapolate{TArray}"/>).
    /// </summary>
    TArray Combine<TArray>(TArray current, PredictionKey basis, IReadOnlyDictionary<PredictionKey, TArray> predictions, bool first)
        where TArray : class, ISampleArray<TArray>;

    /// <summary>Throws, naming the option, when the model lacks what this method needs.</summary>
    void Check(bool hasAutoguidanceDenoiser);
}
