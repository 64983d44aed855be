using static TorchSharp.torch;

namespace LatentDiffusion.Diffusion;

/// <summary>The variance of each DDPM ancestral step (seed 000, equation 6).</summary>
public enum DdpmVariance
{
    /// <summary>sigma^2 = beta-tilde, the posterior variance.</summary>
    BetaTilde,
    /// <summary>sigma^2 = beta.</summary>
    Beta,
}

/// <summary>
/// DDPM ancestral sampling from the posterior q(x_s | x_t, x0) between consecutive visited timesteps (Ho et al.,
/// equations 6 and 7); with all T steps this is Ho et al.'s sampler exactly.
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
