
namespace LatentDiffusion.Diffusion;

/// <summary>
/// What the denoiser is trained to predict. The loss it is trained with is a separate choice (the error measure and
/// the Min-SNR weighting of the training options); <see cref="NoiseSchedule.Interpret{TArray}"/> turns any of these
/// predictions into the (x0, eps) pair a sampler needs.
/// </summary>
public enum DiffusionObjective
{
    /// <summary>The noise epsilon (Ho et al., "Denoising diffusion probabilistic models").</summary>
    Epsilon = 0,
    /// <summary>The clean sample x0 (the point-cloud experiments train this with an SNR-weighted Huber loss).</summary>
    Sample = 1,
    /// <summary>The velocity v = sqrt(abar) eps - sqrt(1 - abar) x0 (Salimans and Ho, "Progressive distillation").</summary>
    Velocity = 2,
}
