using static TorchSharp.torch;

namespace LatentDiffusion.Diffusion;

/// <summary>
/// DDIM (Song et al., equation 12): x_s = sqrt(abar_s) x0 + sqrt(1 - abar_s - sigma^2) eps + sigma z, where
/// sigma = eta sqrt((1 - abar_s) / (1 - abar_t)) sqrt(1 - abar_t / abar_s); eta = 0 is deterministic, eta = 1 matches
/// DDPM's posterior variance.
/// </summary>
public sealed class DdimSampler : GridSampler
{
    private readonly double eta;

    /// <summary>A DDIM sampler over <paramref name="steps"/> strided timesteps.</summary>
    public DdimSampler(NoiseSchedule schedule, int steps, double eta = 0) : base(schedule, SamplerTimesteps.Strided(schedule.Timesteps, steps))
    {
        if (eta < 0 || double.IsNaN(eta)) throw new ArgumentOutOfRangeException(nameof(eta), eta, "eta must be >= 0.");
        this.eta = eta;
    }

    /// <inheritdoc/>
    public override bool IsStochastic => eta > 0;

    /// <inheritdoc/>
    public override Tensor Sample(Tensor xT, DenoiseFunction denoise, NoiseSource noise, Action<int, Tensor, Tensor>? onStep = null)
    {
        var x = xT;
        foreach (var (i, t, s) in Steps())
        {
            var (x0, eps) = denoise(x, t);
            double at = Schedule.AlphaBar(t), a_s = Schedule.AlphaBar(s);
            double sigma = eta * Math.Sqrt((1 - a_s) / (1 - at) * (1 - at / a_s));
            var next = Math.Sqrt(a_s) * x0 + Math.Sqrt(Math.Max(1 - a_s - sigma * sigma, 0)) * eps;
            if (IsStochastic && s >= 0) next = next + sigma * noise();
            onStep?.Invoke(i, x, x0);
            x = Carry.Replace(x, next);
        }
        return x;
    }
}
