using static TorchSharp.torch;

namespace LatentDiffusion.Diffusion;

/// <summary>Which reverse process generates samples.</summary>
public enum SamplerKind
{
    /// <summary>Strided DDIM (Song et al., "Denoising diffusion implicit models"); deterministic when eta = 0.</summary>
    Ddim,
    /// <summary>DDPM ancestral sampling (Ho et al.), optionally on a strided subset of timesteps.</summary>
    Ddpm,
}

/// <summary>
/// One reverse-process step rule. A sampler knows the schedule and nothing about the network: given x_t and the
/// network's implied (x0, eps) at a timestep, it returns x at the next (smaller) timestep.
/// </summary>
public interface IDiffusionSampler
{
    /// <summary>The timesteps visited, from most to least noisy.</summary>
    IReadOnlyList<int> Timesteps { get; }

    /// <summary>Whether <see cref="Step"/> consumes fresh noise.</summary>
    bool IsStochastic { get; }

    /// <summary>
    /// Moves from timestep <c>Timesteps[index]</c> to the next one (or to the clean sample after the last).
    /// <paramref name="noise"/> is standard normal noise shaped like <paramref name="xt"/>, used only when stochastic.
    /// </summary>
    Tensor Step(Tensor xt, Tensor x0, Tensor eps, int index, Tensor? noise);
}

/// <summary>The sampler registry and the timestep spacing samplers share. A new sampler is a new file plus one line in <see cref="Create"/>.</summary>
public static class SamplerTimesteps
{
    /// <summary><paramref name="steps"/> timesteps evenly spread over T-1..0, descending and distinct.</summary>
    public static int[] Strided(int timesteps, int steps)
    {
        if (steps < 1) throw new ArgumentOutOfRangeException(nameof(steps), steps, "The number of sampling steps must be at least 1.");
        if (steps > timesteps) throw new ArgumentOutOfRangeException(nameof(steps), steps, $"The number of sampling steps cannot exceed the {timesteps} timesteps of the schedule.");
        if (steps == 1) return [timesteps - 1];
        return Enumerable.Range(0, steps).Select(i => (int)Math.Round((timesteps - 1) * (1 - (double)i / (steps - 1)))).ToArray();
    }

    /// <summary>The sampler <paramref name="options"/> ask for, over <paramref name="schedule"/>.</summary>
    public static IDiffusionSampler Create(SamplingOptions options, NoiseSchedule schedule) => options.Sampler switch
    {
        SamplerKind.Ddim => new DdimSampler(schedule, options.Steps, options.Eta),
        SamplerKind.Ddpm => new DdpmSampler(schedule, options.Steps, options.Variance),
        _ => throw new ArgumentOutOfRangeException(nameof(options.Sampler), options.Sampler, "Unknown sampler."),
    };
}
