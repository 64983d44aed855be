
namespace LatentDiffusion.Diffusion.Samplers;

/// <summary>
/// Strided DDIM (Song et al. 2021, "Denoising diffusion implicit models", equation 12): x_s = sqrt(abar_s) x0 +
/// sqrt(1 - abar_s - sigma^2) eps + sigma z, where sigma = eta sqrt((1 - abar_s) / (1 - abar_t)) sqrt(1 - abar_t /
/// abar_s); eta = 0 is deterministic, eta = 1 matches DDPM's posterior variance. One evaluation per step.
/// </summary>
[Sampler("Ddim")]
public sealed record DdimSampler : DiffusionSampler
{
    /// <summary>Stochasticity in [0, 1] (0 = deterministic, 1 = as much noise as DDPM). Default 0.</summary>
    public double Eta { get; init; }

    /// <inheritdoc/>
    public override bool IsStochastic => Eta > 0;

    /// <inheritdoc/>
    protected override int[] PlaceSteps(NoiseSchedule schedule) => SamplerTimesteps.Strided(schedule.Timesteps, Steps);

    /// <inheritdoc/>
    public override void Validate(int timesteps)
    {
        base.Validate(timesteps);
        // Above 1 the noise would exceed the variance the step has room for (its direction term becomes imaginary).
        OptionChecks.InRange(Eta, 0, 1, nameof(Eta), nameof(DdimSampler), why: "0 = deterministic DDIM, 1 = DDPM-like noise");
    }

    /// <inheritdoc/>
    public override TArray Sample<TArray>(NoiseSchedule schedule, TArray xT, DenoiseFunction<TArray> denoise, Func<TArray> noise,
        Action<int, TArray, TArray>? onStep = null)
    {
        var x = xT;
        foreach (var (i, t, s) in Walk<TArray>(Grid(schedule)))
        {
            var (x0, eps) = denoise(x, t);
            double at = schedule.AlphaBar(t), a_s = schedule.AlphaBar(s);
            double sigma = Eta * Math.Sqrt((1 - a_s) / (1 - at) * (1 - at / a_s));
            var next = Math.Sqrt(a_s) * x0 + Math.Sqrt(Math.Max(1 - a_s - sigma * sigma, 0)) * eps;
            if (IsStochastic && s >= 0) next = next + sigma * noise();
            onStep?.Invoke(i, x, x0);
            x = Carry.Replace(x, next);
        }
        return x;
    }
}
