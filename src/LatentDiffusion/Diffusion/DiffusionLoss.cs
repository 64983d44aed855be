using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace LatentDiffusion.Diffusion;

/// <summary>How the prediction error is measured.</summary>
public enum DiffusionLossKind
{
    /// <summary>Mean squared error (Ho et al.).</summary>
    MeanSquaredError,
    /// <summary>Huber (smooth L1 with threshold 1), less swayed by outliers; seed 001 uses it with x0 prediction.</summary>
    Huber,
}

/// <summary>
/// The training loss: an error measure (<see cref="DiffusionLossKind"/>) of the objective's prediction, optionally
/// weighted per timestep by Min-SNR (Hang et al., "Efficient diffusion training via Min-SNR weighting strategy").
/// The objective (what is predicted) and this (how its error counts) are independent choices.
/// </summary>
/// <param name="Kind">The error measure.</param>
/// <param name="MinSnrGamma">
/// &gt; 0 weights each sample so that its loss counts as an x0 error weighted by min(SNR, gamma): low-noise steps,
/// which only polish detail, stop dominating the gradient. 0 leaves the loss unweighted.
/// </param>
internal sealed record DiffusionLoss(DiffusionLossKind Kind, double MinSnrGamma)
{
    /// <summary>The loss of one minibatch: <paramref name="prediction"/> against <paramref name="target"/> at timesteps <paramref name="t"/>.</summary>
    public Tensor Compute(DiffusionObjective objective, NoiseSchedule schedule, Tensor prediction, Tensor target, Tensor t)
    {
        if (MinSnrGamma <= 0)
            return Kind == DiffusionLossKind.Huber ? functional.huber_loss(prediction, target) : functional.mse_loss(prediction, target);
        var perSample = Kind == DiffusionLossKind.Huber
            ? functional.huber_loss(prediction, target, reduction: Reduction.None).flatten(1).mean([1])
            : (prediction - target).square().flatten(1).mean([1]);
        var snr = schedule.Snr(t);
        // x0-error = eps-error / SNR = v-error / (SNR + 1), so these weights equalise each objective to min(SNR, gamma) on x0.
        var weight = objective switch
        {
            DiffusionObjective.Sample => snr.clamp_max(MinSnrGamma),
            DiffusionObjective.Velocity => snr.clamp_max(MinSnrGamma) / (snr + 1),
            _ => snr.clamp_max(MinSnrGamma) / snr,
        };
        return (weight * perSample).mean();
    }
}
