
namespace LatentDiffusion.Diffusion.Guidance;

/// <summary>One network prediction at a step: which network, and whether it sees the requested labels or the null class.</summary>
/// <param name="Network">The network that predicts.</param>
/// <param name="Conditional">True: the requested labels; false: the null class (unconditional).</param>
public readonly record struct PredictionKey(DenoiserRole Network, bool Conditional);
