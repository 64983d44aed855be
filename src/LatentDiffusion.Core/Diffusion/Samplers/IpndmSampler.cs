
namespace LatentDiffusion.Diffusion.Samplers;

/// <summary>
/// iPNDM (Zhang and Chen 2023, "Fast sampling of diffusion models with exponential integrator", the improved
/// pseudo-numerical method; the few-step baseline of Zhou et al. 2024's AMED): a linear multistep (Adams-Bashforth)
/// solver of the probability-flow ODE in its variance-exploding form, y = x / alpha over sigma' = sigma / alpha, where
/// dy / dsigma' is the predicted noise. Each step combines the noise predictions of up to four steps with the
/// Adams-Bashforth weights, starting at order 1 and rising as the history fills (the "lower-order warm start"):
/// <code>
/// y_s = y_t + (sigma'_s - sigma'_t) eps~,  eps~ = eps_0 | (3 eps_0 - eps_1) / 2 | (23 eps_0 - 16 eps_1 + 5 eps_2) / 12
///     | (55 eps_0 - 59 eps_1 + 37 eps_2 - 9 eps_3) / 24
/// </code>
/// One evaluation per step and no training: at 4 to 10 network passes it is among the strongest training-free solvers
/// (FID 24.82 at 4 passes and 2.77 at 10 on CIFAR-10, against UniPC's 45.2 and 2.89).
/// </summary>
[Sampler("Ipndm")]
public sealed record IpndmSampler : SolverSampler
{
    /// <summary>The highest order used, 1..4. Default 4.</summary>
    public int MaxOrder { get; init; } = 4;

    /// <inheritdoc/>
    public override void Validate(int timesteps)
    {
        base.Validate(timesteps);
        OptionChecks.InRange(MaxOrder, 1, 4, nameof(MaxOrder), nameof(IpndmSampler), "the Adams-Bashforth orders 1 to 4");
    }

    /// <inheritdoc/>
    public override TArray Sample<TArray>(NoiseSchedule schedule, TArray xT, DenoiseFunction<TArray> denoise, Func<TArray> noise,
        Action<int, TArray, TArray>? onStep = null)
    {
        var x = xT;
        var history = new List<TArray>();   // earlier noise predictions, newest first
        try
        {
            foreach (var (i, t, s) in Walk<TArray>(Grid(schedule)))
            {
                var (x0, eps) = denoise(x, t);
                var combined = Combine(eps, history);
                double alphaT = schedule.Alpha(t), scaledT = schedule.Sigma(t) / alphaT;
                double alphaS = s < 0 ? 1 : schedule.Alpha(s), scaledS = s < 0 ? 0 : schedule.Sigma(s) / alphaS;
                var next = alphaS / alphaT * x + alphaS * (scaledS - scaledT) * combined;
                onStep?.Invoke(i, x, x0);
                history.Insert(0, eps.Alias().Keep());   // our own handle: the denoiser's arrays are not ours to free
                if (history.Count >= MaxOrder)
                {
                    history[^1].Release();
                    history.RemoveAt(history.Count - 1);
                }
                x = Carry.Replace(x, next);
            }
            return x;
        }
        finally
        {
            foreach (var kept in history) kept.Release();
        }
    }

    /// <summary>The Adams-Bashforth combination of <paramref name="eps"/> and the earlier predictions, at the order the history allows.</summary>
    private TArray Combine<TArray>(TArray eps, List<TArray> history) where TArray : class, ISampleArray<TArray> =>
        Math.Min(history.Count + 1, MaxOrder) switch
        {
            1 => eps,
            2 => (3 * eps - history[0]) / 2,
            3 => (23 * eps - 16 * history[0] + 5 * history[1]) / 12,
            _ => (55 * eps - 59 * history[0] + 37 * history[1] - 9 * history[2]) / 24,
        };
}
