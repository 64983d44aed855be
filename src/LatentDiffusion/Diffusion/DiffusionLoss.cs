using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace LatentDiffusion.Diffusion;

/// <summary>The training loss of each <see cref="DiffusionObjective"/>.</summary>
internal static class DiffusionLoss
{
    /// <summary>Minimum-SNR weighting cap for x0 prediction (Hang et al.); keeps low-noise steps from dominating.</summary>
    public const double SnrCap = 5.0;

    public static Tensor Compute(DiffusionObjective objective, NoiseSchedule schedule, Tensor prediction, Tensor target, Tensor t)
    {
        switch (objective)
        {
            case DiffusionObjective.SampleSnrHuber:
                var perSample = functional.huber_loss(prediction, target, reduction: Reduction.None).flatten(1).mean([1]);
                var weight = schedule.Snr(t).clamp_max(SnrCap);
                return (weight * perSample).mean();
            default:
                return functional.mse_loss(prediction, target);
        }
    }
}
