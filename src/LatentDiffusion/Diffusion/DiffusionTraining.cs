using LatentDiffusion.Models;
using LatentDiffusion.Training;
using static TorchSharp.torch;

namespace LatentDiffusion.Diffusion;

/// <summary>
/// Trains a denoiser on latents: random timestep, q(x_t | x_0) noise, the objective's loss; label dropout swaps a
/// fraction of labels for the null class so one network also learns the unconditional score; an EMA copy of the
/// weights (of the float32 weights, under mixed precision too) is what sampling uses.
/// </summary>
internal static class DiffusionTraining
{
    public static TrainingHistory Train(DenoisingUnet model, DenoisingUnet ema, NoiseSchedule schedule, DiffusionObjective objective,
        Tensor latents, Tensor? labels, Tensor validationLatents, Tensor? validationLabels, double labelDropout, double emaDecay, double minSnrGamma,
        MinibatchLoop loop, CancellationToken cancellationToken)
    {
        var average = new ExponentialMovingAverage(model, ema, emaDecay);

        Tensor Loss(DenoisingUnet net, Tensor x0, Tensor? y, Generator generator, double dropout)
        {
            long n = x0.shape[0];
            var t = randint(0, schedule.Timesteps, [n], generator: generator);
            var noise = randn(x0.shape, generator: generator);
            var xt = schedule.AddNoise(x0, noise, t);
            Tensor classes;
            if (y is null || net.Classes == 0) classes = full([n], net.NullClass, dtype: int64);
            else
            {
                var drop = rand([n], generator: generator) < dropout;
                classes = where(drop, full([n], net.NullClass, dtype: int64), y);
            }
            var prediction = net.forward(xt, t, classes);
            return DiffusionLoss.Compute(objective, schedule, prediction, schedule.Target(objective, x0, noise, t), t, minSnrGamma);
        }

        double ValidationLoss()
        {
            if (validationLatents.shape[0] == 0) return double.NaN;
            // Fixed timesteps and noise, so that the curve measures the model and not the draw.
            using var generator = new Generator(12345);
            using var _ = no_grad();
            using var scope = NewDisposeScope();
            double total = 0;
            long n = validationLatents.shape[0];
            for (long i = 0; i < n; i += 512)
            {
                long m = Math.Min(512, n - i);
                total += Loss(ema, validationLatents.narrow(0, i, m), validationLabels?.narrow(0, i, m), generator, labelDropout).item<float>() * m;
            }
            return total / n;
        }

        return loop.Run(model, (rows, generator) => Loss(model, latents[rows], labels?[rows], generator, labelDropout),
            ValidationLoss, average.Update, cancellationToken);
    }
}
