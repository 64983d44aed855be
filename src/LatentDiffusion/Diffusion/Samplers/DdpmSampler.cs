using static TorchSharp.torch;

namespace LatentDiffusion.Diffusion;

/// <summary>The variance of each DDPM ancestral step (the DDPM paper's choices).</summary>
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
public sealed class DdpmSampler : GridSampler
{
    private readonly DdpmVariance variance;

    /// <summary>A DDPM sampler over <paramref name="steps"/> strided timesteps.</summary>
    public DdpmSampler(NoiseSchedule schedule, int steps, DdpmVariance variance = DdpmVariance.BetaTilde)
        : base(schedule, SamplerTimesteps.Strided(schedule.Timesteps, steps)) => this.variance = variance;

    /// <inheritdoc/>
    public override bool IsStochastic => true;

    /// <inheritdoc/>
    public override Tensor Sample(Tensor xT, DenoiseFunction denoise, NoiseSource noise, Action<int, Tensor, Tensor>? onStep = null)
    {
        var x = xT;
        foreach (var (i, t, s) in Steps())
        {
            var (x0, _) = denoise(x, t);
            double at = Schedule.AlphaBar(t), a_s = Schedule.AlphaBar(s);
            double alphaStep = at / a_s, betaStep = 1 - alphaStep;
            // The posterior mean (Ho et al., equation 7); the clean end adds no noise.
            var next = Math.Sqrt(a_s) * betaStep / (1 - at) * x0 + Math.Sqrt(alphaStep) * (1 - a_s) / (1 - at) * x;
            if (s >= 0)
            {
                double sigma2 = variance == DdpmVariance.Beta ? betaStep : (1 - a_s) / (1 - at) * betaStep;
                next = next + Math.Sqrt(sigma2) * noise();
            }
            onStep?.Invoke(i, x, x0);
            x = Carry.Replace(x, next);
        }
        return x;
    }
}
