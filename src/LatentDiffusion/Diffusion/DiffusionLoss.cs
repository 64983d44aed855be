using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace LatentDiffusion.Diffusion;

/// <summary>The training loss of each <see cref="DiffusionObjective"/>.</summary>
internal static class DiffusionLoss
{
    /// <summary>Minimum-SNR weighting cap for x0 prediction (Hang et al.); keeps low-noise steps from dominating.</summary>
    public const double SnrCap = 5.0;

    /// <summary>
    /// The loss of one minibatch. <paramref name="minSnrGamma"/> &gt; 0 weights the epsilon and velocity MSEs per sample so
    /// that each timestep counts as an x0-error weighted by min(SNR, gamma) (Hang et al., "Min-SNR"): low-noise steps,
    /// which only polish detail, stop dominating the gradient; 0 leaves the plain MSE.
    /// </summary>
    public static Tensor Compute(DiffusionObjective objective, NoiseSchedule schedule, Tensor prediction, Tensor target, Tensor t, double minSnrGamma = 0)
    {
        if (objective == DiffusionObjective.SampleSnrHuber)
        {
            var perSample = functional.huber_loss(prediction, target, reduction: Reduction.None).flatten(1).mean([1]);
            return (schedule.Snr(t).clamp_max(SnrCap) * perSample).mean();
        }
        if (minSnrGamma <= 0) return functional.mse_loss(prediction, target);
        var snr = schedule.Snr(t);
        // x0-error = eps-error * (1 / SNR) = v-error * (1 / (SNR + 1)), so these weights equalise to min(SNR, gamma) on x0.
        var weight = snr.clamp_max(minSnrGamma) / (objective == DiffusionObjective.Velocity ? snr + 1 : snr);
        var squared = (prediction - target).square().flatten(1).mean([1]);
        return (weight * squared).mean();
    }
}
