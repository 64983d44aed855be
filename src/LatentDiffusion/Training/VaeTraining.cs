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
    /// <summary>VQ's commitment weight (beta).</summary>
    public double CommitmentWeight { get; init; } = 0.25;
    public double ValidationFraction { get; init; } = 0.02;
    /// <summary>Weight of the perceptual term; 0 = none.</summary>
    public double PerceptualWeight { get; init; }
    /// <summary>Labels of the training images, which train the perceptual term's feature network (needed when its weight is above 0).</summary>
    public int[]? PerceptualLabels { get; init; }
    public int PerceptualClasses { get; init; } = 10;
    /// <summary>Epochs of the perceptual feature network.</summary>
    public int PerceptualEpochs { get; init; } = 2;
}

/// <summary>
/// Trains the VAE: reconstruction (BCE or MSE, summed over pixels) plus a weighted KL to N(0, I), plus optionally a
/// weighted perceptual term, per image; then
/// measures each latent channel's mean and standard deviation over the training images, which standardise the latents.
/// </summary>
internal static class VaeTraining
{
    public static (VaeModel Model, TrainingHistory History) Fit(VaeConfig config, float[] images, int rows, VaeTrainingSettings settings, TrainingRun run)
    {
        config.Validate("the training data");
        using var perceptual = settings.PerceptualWeight > 0 ? PerceptualNetwork(config, images, rows, settings, run) : null;
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
            history = Train(network, perceptual, train, validation, settings, run.Loop("vae", trainRows, settings.Epochs), run.CancellationToken);
            if (perceptual is not null && validationRows > 0)
                run.Logger.LogInformation("Perceptual distance of the held-out images' reconstructions: {Distance:F5}", PerceptualDistance(network, perceptual, validation));
        }
        var model = new VaeModel(network, config, run.Device);
        var (shift, scale, codes) = Standardisation(model, images, rows);
        if (codes is not null)
        {
            double total = codes.Sum(), entropy = codes.Where(c => c > 0).Sum(c => -(c / total) * Math.Log(c / total));
            int used = codes.Count(c => c > 0);
            run.Logger.LogInformation("Codebook: {Used} of {Codes} codes used by the training images, perplexity {Perplexity:F1}", used, codes.Length, Math.Exp(entropy));
            model = new VaeModel(network, config with { CodesUsed = used, CodebookPerplexity = Math.Exp(entropy) }, run.Device);
        }
        run.Logger.LogInformation("Latent standardisation: shift [{Shift}], scale [{Scale}]",
            string.Join(", ", shift.Select(v => v.ToString("F3"))), string.Join(", ", scale.Select(v => v.ToString("F3"))));
        return (model.WithStandardisation(shift, scale), history);
    }

    /// <summary>
    /// The perceptual term's feature network: seed 000's small digit classifier, trained here for a few epochs on these
    /// training images and their labels (another seed than the run's, float32, no augmentation) and then frozen. It
    /// exists only while the VAE trains; it is not the FID instrument and scores nothing.
    /// </summary>
    private static FeatureClassifier PerceptualNetwork(VaeConfig config, float[] images, int rows, VaeTrainingSettings settings, TrainingRun run)
    {
        var labels = settings.PerceptualLabels ?? throw new ArgumentException("The perceptual term needs the training images' labels.", nameof(settings));
        var classifier = new ClassifierConfig { Kind = FidClassifierKind.Small, ImageShape = config.ImageShape, Classes = settings.PerceptualClasses };
        var (model, _) = ClassifierTraining.Fit(classifier, images, labels, rows, settings.PerceptualEpochs,
            run with { Seed = run.Seed + 1, Precision = TrainingPrecision.Float32, TimeBudget = null }, loop: "vae-perceptual", purpose: "perceptual feature network");
        var network = model.Network;
        network.eval();
        foreach (var p in network.parameters()) p.requires_grad = false;
        return network;
    }

    /// <summary>
    /// Per image, the squared distance between the unit-length feature vectors of the images and of their
    /// reconstructions (0 = the same direction, 4 = opposite), as LPIPS compares normalised activations.
    /// </summary>
    private static Tensor PerceptualTerm(FeatureClassifier perceptual, Tensor images, Tensor reconstructions)
    {
        Tensor target;
        using (no_grad()) target = functional.normalize(perceptual.FeaturesAndLogits(images).Features, dim: 1);
        var features = functional.normalize(perceptual.FeaturesAndLogits(reconstructions).Features, dim: 1);
        return (features - target).square().sum(1);
    }

    /// <summary>The mean perceptual distance of the posterior-mean reconstructions of <paramref name="images"/>.</summary>
    private static double PerceptualDistance(VaeNetwork model, FeatureClassifier perceptual, Tensor images)
    {
        using var _ = no_grad();
        double total = 0;
        for (long i = 0; i < images.shape[0]; i += 512)
        {
            using var scope = NewDisposeScope();
            var x = images.narrow(0, i, Math.Min(512, images.shape[0] - i));
            total += PerceptualTerm(perceptual, x, functional.sigmoid(model.forward(x))).sum().item<float>();
        }
        return total / images.shape[0];
    }

    /// <summary>
    /// Each latent channel's mean and standard deviation over the posterior means of all <paramref name="rows"/> images,
    /// and for a VQ VAE how many of those latents' positions choose each code: one encoding pass for both.
    /// </summary>
    private static (float[] Shift, float[] Scale, long[]? Codes) Standardisation(VaeModel unit, float[] images, int rows)
    {
        int channels = unit.Config.LatentChannels, size = unit.ImageSize;
        var moments = new ChannelMoments(channels, unit.LatentSize / channels);
        var codebook = unit.Network.Quantizer;
        var codes = codebook is null ? null : new long[codebook.Codes];
        for (int start = 0; start < rows; start += 1024)
        {
            int n = Math.Min(1024, rows - start);
            var latents = unit.Encode(images[(start * size)..((start + n) * size)], n);
            moments.Add(latents);
            if (codebook is null) continue;
            using var _ = no_grad();
            using var scope = NewDisposeScope();
            var z = tensor(latents, [n, .. unit.LatentShape.Select(d => (long)d)], device: unit.Device);
            var histogram = codebook.Nearest(VectorQuantizer.Rows(z)).bincount(null, codebook.Codes).cpu().data<long>().ToArray();
            for (int i = 0; i < codes!.Length; i++) codes[i] += histogram[i];
        }
        return (moments.Mean, moments.Variance.Select(v => (float)Math.Sqrt(Math.Max(v, 1e-12))).ToArray(), codes);
    }

    private static TrainingHistory Train(VaeNetwork model, FeatureClassifier? perceptual, Tensor images, Tensor validation, VaeTrainingSettings settings,
        MinibatchLoop loop, CancellationToken cancellationToken)
    {
        var device = images.device;

        Tensor Loss(Tensor x, Generator? generator, bool sample)
        {
            var (mean, logVar) = model.Encode(x);
            Tensor z, regularisation;
            if (model.Quantizer is { } quantizer) (z, regularisation) = Quantized(quantizer, mean, generator);
            else
            {
                z = sample ? mean + (0.5 * logVar!).exp() * randn(mean.shape, generator: generator, device: CPU).to(device) : mean;
                regularisation = settings.KlWeight * (-0.5 * (1 + logVar! - mean.square() - logVar!.exp()).sum());
            }
            var logits = model.DecodeLogits(z, quantized: true);
            var reconstruction = settings.BinaryCrossEntropy
                ? functional.binary_cross_entropy_with_logits(logits, x, reduction: Reduction.Sum)
                : functional.mse_loss(functional.sigmoid(logits), x, reduction: Reduction.Sum);
            var total = reconstruction + regularisation;
            // On the scale of the summed pixel loss: weight 1 costs as much as one nat per pixel at the largest distance.
            if (perceptual is not null)
                total = total + settings.PerceptualWeight * x.shape[1] / 4.0 * PerceptualTerm(perceptual, x, functional.sigmoid(logits)).sum();
            return total / x.shape[0];
        }

        // VQ-VAE's terms: the codebook moves to the encoder's outputs, the encoder commits to its codes, and the decoder's
        // gradient passes the quantisation straight through. Codes that no position of the batch chose restart, after the
        // step, at encoder outputs drawn at random from the batch (drawn from the loop's generator and decided by the
        // batch alone, so a resumed run repeats them).
        (Tensor Rows, Tensor Values)? restart = null;
        (Tensor Z, Tensor Loss) Quantized(VectorQuantizer quantizer, Tensor latents, Generator? generator)
        {
            var (quantized, indices) = quantizer.Quantize(latents);
            var loss = (quantized - latents.detach()).square().sum() + settings.CommitmentWeight * (latents - quantized.detach()).square().sum();
            if (generator is not null)
            {
                var dead = indices.bincount(null, quantizer.Codes).eq(0).nonzero().flatten();
                long count = dead.shape[0];
                if (count > 0)
                {
                    var rows = VectorQuantizer.Rows(latents).detach();
                    var picks = (rand([count], generator: generator, device: CPU) * rows.shape[0]).to_type(int64).clamp(0, rows.shape[0] - 1).to(device);
                    restart = (dead, rows.index_select(0, picks));
                }
            }
            return (latents + (quantized - latents).detach(), loss);
        }

        void Restart(TrainingWeights weights)
        {
            if (restart is not { } r) return;
            weights.AssignRows("quantizer.codebook", r.Rows, r.Values);
            restart = null;
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

        return loop.Run(model, (rows, generator) => Loss(images[rows], generator, true), ValidationLoss, cancellationToken: cancellationToken,
            afterStep: model.Quantizer is null ? null : Restart);
    }
}
