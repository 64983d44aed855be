using LatentDiffusion.Models;
using Microsoft.Extensions.Logging;
using TorchSharp;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace LatentDiffusion.Training;

/// <summary>The settings of VAE training beyond <see cref="TrainingRun"/>.</summary>
internal sealed record VaeTrainingSettings
{
    public int Epochs { get; init; } = 5;
    public bool BinaryCrossEntropy { get; init; } = true;
    public double KlWeight { get; init; } = 0.05;
    public double ValidationFraction { get; init; } = 0.02;
}

/// <summary>
/// Trains the VAE: reconstruction (BCE or MSE, summed over pixels) plus a weighted KL to N(0, I), per image; then
/// measures each latent channel's mean and standard deviation over the training images, which standardise the latents.
/// </summary>
internal static class VaeTraining
{
    public static (VaeModel Model, TrainingHistory History) Fit(VaeConfig config, float[] images, int rows, VaeTrainingSettings settings, TrainingRun run)
    {
        config.Validate("the training data");
        manual_seed(run.Seed);
        var network = VaeNetwork.Create(config, run.Device);
        var (trainRows, validationRows) = TrainingRun.Split(rows, settings.ValidationFraction);
        var latent = config.LatentShape;
        run.Logger.LogInformation("Training the VAE ({Channels}x{Height}x{Width} latent) on {Rows} images for {Epochs} epochs; "
            + "{Held} more held out for the validation loss (ValidationFraction {Fraction})",
            latent[0], latent[1], latent[2], trainRows, settings.Epochs, validationRows, settings.ValidationFraction);
        TrainingHistory history;
        using (var all = tensor(images, [rows, config.ImageSize], device: run.Device))
        using (var train = all.narrow(0, 0, trainRows))
        using (var validation = all.narrow(0, trainRows, validationRows))
        {
            history = Train(network, train, validation, settings, run.Loop("vae", trainRows, settings.Epochs), run.CancellationToken);
        }
        var model = new VaeModel(network, config, run.Device);
        var (shift, scale) = Standardisation(model, images, rows);
        run.Logger.LogInformation("Latent standardisation: shift [{Shift}], scale [{Scale}]",
            string.Join(", ", shift.Select(v => v.ToString("F3"))), string.Join(", ", scale.Select(v => v.ToString("F3"))));
        return (model.WithStandardisation(shift, scale), history);
    }

    /// <summary>Each latent channel's mean and standard deviation over the posterior means of all <paramref name="rows"/> images.</summary>
    private static (float[] Shift, float[] Scale) Standardisation(VaeModel unit, float[] images, int rows)
    {
        int channels = unit.Config.LatentChannels, size = unit.ImageSize;
        var moments = new ChannelMoments(channels, unit.LatentSize / channels);
        for (int start = 0; start < rows; start += 1024)
        {
            int n = Math.Min(1024, rows - start);
            moments.Add(unit.Encode(images[(start * size)..((start + n) * size)], n));
        }
        return (moments.Mean, moments.Variance.Select(v => (float)Math.Sqrt(Math.Max(v, 1e-12))).ToArray());
    }

    private static TrainingHistory Train(VaeNetwork model, Tensor images, Tensor validation, VaeTrainingSettings settings, MinibatchLoop loop, CancellationToken cancellationToken)
    {
        var device = images.device;

        Tensor Loss(Tensor x, Generator? generator, bool sample)
        {
            var (mean, logVar) = model.Encode(x);
            var z = sample ? mean + (0.5 * logVar).exp() * randn(mean.shape, generator: generator, device: CPU).to(device) : mean;
            var logits = model.DecodeLogits(z);
            var reconstruction = settings.BinaryCrossEntropy
                ? functional.binary_cross_entropy_with_logits(logits, x, reduction: Reduction.Sum)
                : functional.mse_loss(functional.sigmoid(logits), x, reduction: Reduction.Sum);
            var kl = -0.5 * (1 + logVar - mean.square() - logVar.exp()).sum();
            return (reconstruction + settings.KlWeight * kl) / x.shape[0];
        }

        double ValidationLoss()
        {
            if (validation.shape[0] == 0) return double.NaN;
            using var _ = no_grad();
            using var scope = NewDisposeScope();
            double total = 0;
            for (long i = 0; i < validation.shape[0]; i += 512)
            {
                var x = validation.narrow(0, i, Math.Min(512, validation.shape[0] - i));
                total += Loss(x, null, false).item<float>() * x.shape[0];
            }
            return total / validation.shape[0];
        }

        return loop.Run(model, (rows, generator) => Loss(images[rows], generator, true), ValidationLoss, cancellationToken: cancellationToken);
    }
}
