using static TorchSharp.torch;

namespace LatentDiffusion.Diffusion;

/// <summary>
/// DDIM (Song et al., equation 12): x_s = sqrt(abar_s) x0 + sqrt(1 - abar_s - sigma^2) eps + sigma z, where
/// sigma = eta sqrt((1 - abar_s) / (1 - abar_t)) sqrt(1 - abar_t / abar_s); eta = 0 is deterministic, eta = 1 matches
/// DDPM's posterior variance.
/// </summary>
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
