
namespace LatentDiffusion.Diffusion.Samplers;

/// <summary>
/// DPM-Solver++(2M) (Lu et al. 2022, "DPM-Solver++: Fast solver for guided sampling of diffusion probabilistic
/// models", algorithm 2), in the paper's notation: alpha_t, sigma_t, lambda_t = log(alpha_t / sigma_t), step size
/// h = lambda_s - lambda_t from timestep t to the next, s. Each step is exact for the linear part of the
/// probability-flow ODE and extrapolates the data prediction x0 linearly in lambda from this step's and the previous
/// step's:
/// <code>
/// x_s = (sigma_s / sigma_t) x_t - alpha_s (e^-h - 1) (D0 + D1 / 2),  D0 = x0_t,  D1 = (x0_t - x0_prev) / r,  r = h_prev / h
/// </code>
/// The first step has no previous prediction and the last (to sigma = 0) gains nothing from one: both are first
/// order, where the update is DDIM's. One evaluation per step.
/// </summary>
[Sampler("DpmSolverPlusPlus2M")]
public sealed record DpmSolverPlusPlusSampler : SolverSampler
{
    /// <inheritdoc/>
    public override TArray Sample<TArray>(NoiseSchedule schedule, TArray xT, DenoiseFunction<TArray> denoise, Func<TArray> noise,
        Action<int, TArray, TArray>? onStep = null)
    {
        var x = xT;
        TArray? previousX0 = null;
        double previousLambda = 0;
        try
        {
            foreach (var (i, t, s) in Walk<TArray>(Grid(schedule)))
            {
                var (x0, _) = denoise(x, t);
                double lambdaT = schedule.LogSnr(t);
                TArray next;
                if (s < 0)
                    next = x0.Alias();   // sigma_s = 0: the first-order step lands on the prediction itself
                else
                {
                    double lambdaS = schedule.LogSnr(s), h = lambdaS - lambdaT, alphaS = schedule.Alpha(s);
                    double phi = Math.Exp(-h) - 1;
                    next = schedule.Sigma(s) / schedule.Sigma(t) * x - alphaS * phi * x0;
                    if (previousX0 is not null)
                    {
                        double r = (lambdaT - previousLambda) / h;
                        next = next - 0.5 * alphaS * phi / r * (x0 - previousX0);
                    }
                }
                onStep?.Invoke(i, x, x0);
                previousX0 = Carry.Replace(previousX0, x0.Alias());   // our own handle: the denoiser's arrays are not ours to free
                previousLambda = lambdaT;
                x = Carry.Replace(x, next);
            }
            return x;
        }
        finally
        {
            previousX0?.Release();
        }
    }
}
