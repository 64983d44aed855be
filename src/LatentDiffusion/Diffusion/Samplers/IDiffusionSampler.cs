using static TorchSharp.torch;

namespace LatentDiffusion.Diffusion;

/// <summary>
/// The denoiser as a sampler sees it: the sample x_t at timestep t to the clean sample and the noise it implies, with
/// guidance, the objective's interpretation and clipping already applied. The tensors live in the caller's current
/// dispose scope.
/// </summary>
public delegate (Tensor X0, Tensor Eps) DenoiseFunction(Tensor xt, int t);

/// <summary>Fresh standard normal noise shaped like the sample, each sample's from its own generator.</summary>
public delegate Tensor NoiseSource();

/// <summary>
/// A reverse process: from noise at <see cref="Timesteps"/>[0] to a clean sample, calling the denoiser where it needs
/// to. A sampler knows the schedule and nothing about networks; it owns its loop, so a solver that evaluates twice per
/// step or keeps a history of predictions is written as naturally as DDIM. A new sampler is a new file, one
/// <see cref="SamplerKind"/> value and one line in <see cref="Samplers.Create"/>.
/// </summary>
public interface IDiffusionSampler
{
    /// <summary>The timesteps the steps start from, most to least noisy; the last step ends at the clean sample.</summary>
    IReadOnlyList<int> Timesteps { get; }

    /// <summary>
    /// The timesteps at which <see cref="Sample"/> calls the denoiser, in call order: one per step for most samplers,
    /// two for a Heun step. Network pass counts, FLOP reports and benchmarks are computed from this list.
    /// </summary>
    IReadOnlyList<int> Evaluations { get; }

    /// <summary>Whether <see cref="Sample"/> draws fresh noise after the start.</summary>
    bool IsStochastic { get; }

    /// <summary>
    /// Runs the reverse process from <paramref name="xT"/>, which the sampler owns (and disposes) from here on, and
    /// returns the clean sample in the caller's dispose scope. <paramref name="onStep"/>, when given, sees each step's
    /// x_t and predicted x0 (valid only during the call). Memory stays flat in the number of steps.
    /// </summary>
    Tensor Sample(Tensor xT, DenoiseFunction denoise, NoiseSource noise, Action<int, Tensor, Tensor>? onStep = null);
}
