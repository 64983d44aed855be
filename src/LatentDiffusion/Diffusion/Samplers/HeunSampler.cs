using static TorchSharp.torch;

namespace LatentDiffusion.Diffusion;

/// <summary>
/// Heun's method on the probability-flow ODE (Karras et al. 2022, algorithm 1, deterministic). In their variables
/// y = x / alpha and sigma' = sigma / alpha the ODE is dy/dsigma' = (y - x0) / sigma' = eps, the noise the denoiser
/// implies, so a step from t to s is
/// <code>
/// y~ = y_t + (sigma'_s - sigma'_t) eps(t),   y_s = y_t + (sigma'_s - sigma'_t) (eps(t) + eps~(s)) / 2
/// </code>
/// with eps~(s) the denoiser's at (alpha_s y~, s): two evaluations per step. The last step, to sigma' = 0, is Euler's
/// (one evaluation), which lands on the prediction x0.
/// </summary>
public sealed class HeunSampler(NoiseSchedule schedule, int[] timesteps) : GridSampler(schedule, timesteps)
{
    private readonly int[] evaluations = timesteps.SelectMany((t, i) => i + 1 < timesteps.Length ? new[] { t, timesteps[i + 1] } : [t]).ToArray();

    /// <inheritdoc/>
    public override IReadOnlyList<int> Evaluations => evaluations;

    /// <inheritdoc/>
    public override Tensor Sample(Tensor xT, DenoiseFunction denoise, NoiseSource noise, Action<int, Tensor, Tensor>? onStep = null)
    {
        var x = xT;
        foreach (var (i, t, s) in Steps())
        {
            var (x0, eps) = denoise(x, t);
            Tensor next;
            if (s < 0)
                next = x0.alias();
            else
            {
                double alphaT = Schedule.Alpha(t), alphaS = Schedule.Alpha(s);
                double step = Schedule.Sigma(s) / alphaS - Schedule.Sigma(t) / alphaT;
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
