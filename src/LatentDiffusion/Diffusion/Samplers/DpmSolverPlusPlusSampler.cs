using static TorchSharp.torch;

namespace LatentDiffusion.Diffusion;

/// <summary>
/// DPM-Solver++(2M) (Lu et al. 2022, algorithm 2), in the paper's notation: alpha_t, sigma_t, lambda_t =
/// log(alpha_t / sigma_t), step size h = lambda_s - lambda_t from timestep t to the next, s. Each step is exact for the
/// linear part of the probability-flow ODE and extrapolates the data prediction x0 linearly in lambda from this step's
/// and the previous step's:
/// <code>
/// x_s = (sigma_s / sigma_t) x_t - alpha_s (e^-h - 1) (D0 + D1 / 2),  D0 = x0_t,  D1 = (x0_t - x0_prev) / r,  r = h_prev / h
/// </code>
/// The first step has no previous prediction and the last (to sigma = 0) gains nothing from one: both are first
/// order, where the update is DDIM's.
/// </summary>
public sealed class DpmSolverPlusPlusSampler(NoiseSchedule schedule, int[] timesteps) : GridSampler(schedule, timesteps)
{
    /// <inheritdoc/>
    public override Tensor Sample(Tensor xT, DenoiseFunction denoise, NoiseSource noise, Action<int, Tensor, Tensor>? onStep = null)
    {
        var x = xT;
        Tensor? previousX0 = null;
        double previousLambda = 0;
        try
        {
            foreach (var (i, t, s) in Steps())
            {
                var (x0, _) = denoise(x, t);
                double lambdaT = Schedule.LogSnr(t);
                Tensor next;
                if (s < 0)
                    next = x0.alias();   // sigma_s = 0: the first-order step lands on the prediction itself
                else
                {
                    double lambdaS = Schedule.LogSnr(s), h = lambdaS - lambdaT, alphaS = Schedule.Alpha(s);
                    double phi = Math.Exp(-h) - 1;
                    next = Schedule.Sigma(s) / Schedule.Sigma(t) * x - alphaS * phi * x0;
                    if (previousX0 is not null)
                    {
                        double r = (lambdaT - previousLambda) / h;
                        next = next - 0.5 * alphaS * phi / r * (x0 - previousX0);
                    }
                }
                onStep?.Invoke(i, x, x0);
                previousX0 = Carry.Replace(previousX0, x0.alias());   // our own handle: the denoiser's tensors are not ours to dispose
                previousLambda = lambdaT;
                x = Carry.Replace(x, next);
            }
            return x;
        }
        finally
        {
            previousX0?.Dispose();
        }
    }
}
