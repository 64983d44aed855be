using static TorchSharp.torch;

namespace LatentDiffusion.Diffusion;

/// <summary>Which reverse process generates samples.</summary>
public enum SamplerKind
{
    /// <summary>Strided DDIM (Song et al.); deterministic when eta = 0.</summary>
    Ddim,
    /// <summary>DDPM ancestral sampling (Ho et al.), optionally on a strided subset of timesteps.</summary>
    Ddpm,
}

/// <summary>The variance of each DDPM ancestral step (seed 000, equation 6).</summary>
public enum DdpmVariance
{
    /// <summary>sigma^2 = beta-tilde, the posterior variance.</summary>
    BetaTilde,
    /// <summary>sigma^2 = beta.</summary>
    Beta,
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

/// <summary>Shared timestep spacing.</summary>
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

    /// <summary>Creates the sampler of <paramref name="kind"/>.</summary>
    public static IDiffusionSampler Create(SamplerKind kind, NoiseSchedule schedule, int steps, double eta = 0, DdpmVariance variance = DdpmVariance.BetaTilde) => kind switch
    {
        SamplerKind.Ddim => new DdimSampler(schedule, steps, eta),
        SamplerKind.Ddpm => new DdpmSampler(schedule, steps, variance),
        _ => throw new ArgumentOutOfRangeException(nameof(kind)),
    };
}

/// <summary>DDIM: x_s = sqrt(abar_s) x0 + sqrt(1 - abar_s - sigma^2) eps + sigma z, sigma scaled by eta.</summary>
public sealed class DdimSampler : IDiffusionSampler
{
    private readonly NoiseSchedule schedule;
    private readonly int[] timesteps;
    private readonly double eta;

    /// <summary>A DDIM sampler over <paramref name="steps"/> strided timesteps.</summary>
    public DdimSampler(NoiseSchedule schedule, int steps, double eta = 0)
    {
        if (eta < 0 || double.IsNaN(eta)) throw new ArgumentOutOfRangeException(nameof(eta), eta, "eta must be >= 0.");
        this.schedule = schedule;
        this.eta = eta;
        timesteps = SamplerTimesteps.Strided(schedule.Timesteps, steps);
    }

    /// <inheritdoc/>
    public IReadOnlyList<int> Timesteps => timesteps;

    /// <inheritdoc/>
    public bool IsStochastic => eta > 0;

    /// <inheritdoc/>
    public Tensor Step(Tensor xt, Tensor x0, Tensor eps, int index, Tensor? noise)
    {
        int t = timesteps[index];
        int s = index + 1 < timesteps.Length ? timesteps[index + 1] : -1;
        double at = schedule.AlphaBar(t), a_s = schedule.AlphaBar(s);
        double sigma = eta * Math.Sqrt((1 - a_s) / (1 - at) * (1 - at / a_s));
        var next = Math.Sqrt(a_s) * x0 + Math.Sqrt(Math.Max(1 - a_s - sigma * sigma, 0)) * eps;
        if (sigma > 0 && noise is not null) next = next + sigma * noise;
        return next;
    }
}

/// <summary>
/// DDPM ancestral sampling from the posterior q(x_s | x_t, x0) between consecutive visited timesteps; with all T
/// steps this is Ho et al.'s sampler exactly.
/// </summary>
public sealed class DdpmSampler : IDiffusionSampler
{
    private readonly NoiseSchedule schedule;
    private readonly int[] timesteps;
    private readonly DdpmVariance variance;

    /// <summary>A DDPM sampler over <paramref name="steps"/> strided timesteps.</summary>
    public DdpmSampler(NoiseSchedule schedule, int steps, DdpmVariance variance = DdpmVariance.BetaTilde)
    {
        this.schedule = schedule;
        this.variance = variance;
        timesteps = SamplerTimesteps.Strided(schedule.Timesteps, steps);
    }

    /// <inheritdoc/>
    public IReadOnlyList<int> Timesteps => timesteps;

    /// <inheritdoc/>
    public bool IsStochastic => true;

    /// <inheritdoc/>
    public Tensor Step(Tensor xt, Tensor x0, Tensor eps, int index, Tensor? noise)
    {
        int t = timesteps[index];
        int s = index + 1 < timesteps.Length ? timesteps[index + 1] : -1;
        double at = schedule.AlphaBar(t), a_s = schedule.AlphaBar(s);
        double alphaStep = at / a_s, betaStep = 1 - alphaStep;
        var mean = Math.Sqrt(a_s) * betaStep / (1 - at) * x0 + Math.Sqrt(alphaStep) * (1 - a_s) / (1 - at) * xt;
        if (s < 0 || noise is null) return mean;
        double sigma2 = variance == DdpmVariance.Beta ? betaStep : (1 - a_s) / (1 - at) * betaStep;
        return mean + Math.Sqrt(sigma2) * noise;
    }
}
