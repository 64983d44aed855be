
namespace LatentDiffusion.Diffusion.Samplers;

/// <summary>The variance of each DDPM ancestral step (the DDPM paper's choices).</summary>
public enum DdpmVariance
{
    /// <summary>sigma^2 = beta-tilde, the posterior variance.</summary>
    BetaTilde,
    /// <summary>sigma^2 = beta.</summary>
    Beta,
}

/// <summary>
/// DDPM ancestral sampling (Ho et al. 2020, equations 6 and 7) from the posterior q(x_s | x_t, x0) between consecutive
/// timesteps of a strided grid; with all T steps this is Ho et al.'s sampler exactly. One evaluation per step.
/// </summary>
[Sampler("Ddpm")]
public sealed record DdpmSampler : DiffusionSampler
{
    /// <summary>The step variance. Default beta-tilde.</summary>
    public DdpmVariance Variance { get; init; } = DdpmVariance.BetaTilde;

    /// <inheritdoc/>
    public override bool IsStochastic => true;

    /// <inheritdoc/>
    protected override int[] PlaceSteps(NoiseSchedule schedule) => SamplerTimesteps.Strided(schedule.Timesteps, Steps);

    /// <inheritdoc/>
    public override void Validate(int timesteps)
    {
        base.Validate(timesteps);
        OptionChecks.Defined(Variance, nameof(Variance), nameof(DdpmSampler));
    }

    /// <inheritdoc/>
    public override TArray Sample<TArray>(NoiseSchedule schedule, TArray xT, DenoiseFunction<TArray> denoise, Func<TArray> noise,
        Action<int, TArray, TArray>? onStep = null)
    {
        var x = xT;
        foreach (var (i, t, s) in Walk<TArray>(Grid(schedule)))
        {
            var (x0, _) = denoise(x, t);
            double at = schedule.AlphaBar(t), a_s = schedule.AlphaBar(s);
            double alphaStep = at / a_s, betaStep = 1 - alphaStep;
            // The posterior mean (Ho et al., equation 7); the clean end adds no noise.
            var next = Math.Sqrt(a_s) * betaStep / (1 - at) * x0 + Math.Sqrt(alphaStep) * (1 - a_s) / (1 - at) * x;
            if (s >= 0)
            {
                double sigma2 = Variance == DdpmVariance.Beta ? betaStep : (1 - a_s) / (1 - at) * betaStep;
                next = next + Math.Sqrt(sigma2) * noise();
            }
            onStep?.Invoke(i, x, x0);
            x = Carry.Replace(x, next);
        }
        return x;
    }
}
