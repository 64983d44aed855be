
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace LatentDiffusion.Diffusion;

/// <summary>How the prediction error is measured.</summary>
public enum DiffusionLossKind
{
    /// <summary>Mean squared error (Ho et al.).</summary>
    MeanSquaredError,
    /// <summary>Huber (smooth L1 with threshold 1), less swayed by outliers; the point-cloud experiments use it with x0 prediction.</summary>
    Huber,
}

/// <summary>How each timestep's loss is weighted.</summary>
public enum LossWeighting
{
    /// <summary>Every timestep counts alike.</summary>
    None,
    /// <summary>
    /// Min-SNR (Hang et al., "Efficient diffusion training via Min-SNR weighting strategy"): each sample's loss counts as
    /// an x0 error weighted by min(SNR, gamma), whatever the objective; low-noise steps, which only polish detail, stop
    /// dominating the gradient.
    /// </summary>
    MinSnr,
    /// <summary>
    /// The point-cloud experiments' weighting, from the ELBO: the loss is measured between w x0 and w x0-hat with
    /// w = sqrt((SNR(t-1) - SNR(t)) / 2), in x0 space whatever the objective predicts. SNR(-1) is infinite, so t = 0
    /// takes t = 1's weight.
    /// </summary>
    SnrDifference,
}

/// <summary>
/// The training loss: an error measure of the objective's prediction and a per-timestep weighting. The objective (what
/// is predicted), the measure and the weighting are independent choices.
/// </summary>
/// <param name="Kind">The error measure.</param>
/// <param name="Weighting">The per-timestep weighting.</param>
/// <param name="MinSnrGamma">The cap of <see cref="LossWeighting.MinSnr"/>.</param>
internal sealed record DiffusionLoss(DiffusionLossKind Kind, LossWeighting Weighting = LossWeighting.None, double MinSnrGamma = 5)
{
    /// <summary>The loss of one minibatch: <paramref name="prediction"/> against <paramref name="target"/> at timesteps <paramref name="t"/>.</summary>
    public Tensor Compute(DiffusionObjective objective, NoiseSchedule schedule, Tensor prediction, Tensor target, Tensor t) => Weighting switch
    {
        LossWeighting.MinSnr => MinSnr(objective, schedule, prediction, target, t),
        LossWeighting.SnrDifference => SnrDifference(objective, schedule, prediction, target, t),
        _ => Kind == DiffusionLossKind.Huber ? functional.huber_loss(prediction, target) : functional.mse_loss(prediction, target),
    };

    private Tensor PerSample(Tensor prediction, Tensor target) => Kind == DiffusionLossKind.Huber
        ? functional.huber_loss(prediction, target, reduction: Reduction.None).flatten(1).mean([1])
        : (prediction - target).square().flatten(1).mean([1]);

    private Tensor MinSnr(DiffusionObjective objective, NoiseSchedule schedule, Tensor prediction, Tensor target, Tensor t)
    {
        var perSample = PerSample(prediction, target);
        var snr = schedule.Snr(t);
        // x0-error = eps-error / SNR = v-error / (SNR + 1) in squared terms, so these weights equalise each objective to min(SNR, gamma) on x0.
        var weight = objective switch
        {
            DiffusionObjective.Sample => snr.clamp_max(MinSnrGamma),
            DiffusionObjective.Velocity => snr.clamp_max(MinSnrGamma) / (snr + 1),
            _ => snr.clamp_max(MinSnrGamma) / snr,
        };
        return (weight * perSample).mean();
    }

    private Tensor SnrDifference(DiffusionObjective objective, NoiseSchedule schedule, Tensor prediction, Tensor target, Tensor t)
    {
        // Per timestep: the seed's weight times the factor that turns this objective's error into an x0 error.
        var abar = schedule.AlphaBars;
        var factors = new float[abar.Length];
        for (int i = 0; i < abar.Length; i++)
        {
            int s = Math.Max(i, 1);
            double snrBefore = abar[s - 1] / (1 - abar[s - 1]), snr = abar[s] / (1 - abar[s]);
            double weight = Math.Sqrt(Math.Max(snrBefore - snr, 0) / 2);
            double toX0 = objective switch
            {
                DiffusionObjective.Epsilon => Math.Sqrt((1 - abar[i]) / abar[i]),
                DiffusionObjective.Velocity => Math.Sqrt(1 - abar[i]),
                _ => 1,
            };
            factors[i] = (float)(weight * toX0);
        }
        var scale = tensor(factors, device: CPU).to(prediction.device)[t].view([-1, .. Enumerable.Repeat(1L, (int)prediction.dim() - 1)]);
        return Kind == DiffusionLossKind.Huber
            ? functional.huber_loss(scale * prediction, scale * target)
            : functional.mse_loss(scale * prediction, scale * target);
    }
}
