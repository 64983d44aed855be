
namespace LatentDiffusion.Diffusion.Samplers;

/// <summary>
/// Heun's method on the probability-flow ODE (Karras et al. 2022, "Elucidating the design space of diffusion-based
/// generative models", algorithm 1, deterministic). In their variables y = x / alpha and sigma' = sigma / alpha the ODE
/// is dy/dsigma' = (y - x0) / sigma' = eps, the noise the denoiser implies, so a step from t to s is
/// <code>
/// y~ = y_t + (sigma'_s - sigma'_t) eps(t),   y_s = y_t + (sigma'_s - sigma'_t) (eps(t) + eps~(s)) / 2
/// </code>
/// with eps~(s) the denoiser's at (alpha_s y~, s): two evaluations per step. The last step, to sigma' = 0, is Euler's
/// (one evaluation), which lands on the prediction x0.
/// </summary>
[Sampler("Heun")]
public sealed record HeunSampler : SolverSampler
{
    /// <inheritdoc/>
    public override IReadOnlyList<int> Evaluations(NoiseSchedule schedule)
    {
        var grid = Grid(schedule);
        return grid.SelectMany((t, i) => i + 1 < grid.Length ? new[] { t, grid[i + 1] } : [t]).ToArray();
    }

    /// <inheritdoc/>
    public override TArray Sample<TArray>(NoiseSchedule schedule, TArray xT, DenoiseFunction<TArray> denoise, Func<TArray> noise,
        Action<int, TArray, TArray>? onStep = null)
    {
        var x = xT;
        foreach (var (i, t, s) in Walk<TArray>(Grid(schedule)))
        {
            var (x0, eps) = denoise(x, t);
            TArray next;
            if (s < 0)
                next = x0.Alias();
            else
            {
                double alphaT = schedule.Alpha(t), alphaS = schedule.Alpha(s);
                double step = schedule.Sigma(s) / alphaS - schedule.Sigma(t) / alphaT;
                var y = x / alphaT;
                var (_, epsEuler) = denoise(alphaS * (y + step * eps), s);
                next = alphaS * (y + step * 0.5 * (eps + epsEuler));
            }
            onStep?.Invoke(i, x, x0);
            x = Carry.Replace(x, next);
        }
        return x;
    }
}
