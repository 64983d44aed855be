using LatentDiffusion.IO;
using LatentDiffusion.Models.Classifier;
using LatentDiffusion.Training;
using Microsoft.Extensions.Logging;
using TorchSharp;
using static TorchSharp.torch;
using static TorchSharp.torch.nn;

namespace LatentDiffusion.Models.Vae;

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
    public int PerceptualClasses { get; init; } = 10;
    /// <summary>Epochs of the perceptual feature network.</summary>
    public int PerceptualEpochs { get; init; } = 2;
    /// <summary>Weight of the patch-adversarial term on top of its adaptive weight; 0 = none (no discriminator).</summary>
    public double AdversarialWeight { get; init; }
    /// <summary>The optimiser step from which the adversarial term and the discriminator's training run.</summary>
    public long AdversarialStart { get; init; }
    /// <summary>The discriminator's first convolution width (doubling twice).</summary>
    public int DiscriminatorWidth { get; init; } = 32;
}

/// <summary>
/// Trains the VAE: reconstruction (BCE or MSE, summed over pixels) plus a weighted KL to N(0, I) (or VQ's terms), plus
/// optionally a weighted perceptual term, per image, plus optionally a patch-adversarial term; then
/// measures each latent channel's mean and standard deviation over the training images, which standardise the latents.
/// </summary>
internal static class VaeTraining
{
    /// <summary>
    /// Trains a VAE of the validated <paramref name="config"/> on the images of <paramref name="data"/> (their labels
    /// train the perceptual term's feature network, needed when its weight is above 0).
    /// </summary>
    public static (VaeModel Model, TrainingHistory History) Fit(VaeConfig config, TrainingData data, VaeTrainingSettings settings, TrainingRun run)
    {
        int rows = data.Rows;
        using var perceptual = settings.PerceptualWeight > 0 ? PerceptualNetwork(config, data, settings, run) : null;
        manual_seed(run.Seed);
        var network = VaeNetwork.Create(config, run.Device);
        var (trainRows, validationRows) = TrainingRun.Split(rows, settings.ValidationFraction);
        var latent = config.LatentShape;
        run.Logger.LogInformation("Training the VAE ({Channels}x{Height}x{Width} latent) on {Rows} images for {Epochs} epochs; "
            + "{Held} more held out for the validation loss (ValidationFraction {Fraction})",
            latent[0], latent[1], latent[2], trainRows, settings.Epochs, validationRows, settings.ValidationFraction);
        TrainingHistory history;
        IEnumerable<Tensor> Validation() =>
            data.Chunks(trainRows, validationRows, 512).Select(chunk => tensor(chunk.Values, [chunk.Rows, config.ImageSize], device: run.Device));
        using (var batches = data.Batches(trainRows, [config.ImageSize], run.Device))
        {
            history = Train(network, perceptual, batches, Validation, validationRows, settings, run.Loop("vae", trainRows, settings.Epochs), run.Logger,
                run.CancellationToken);
            if (perceptual is not null && validationRows > 0)
                run.Logger.LogInformation("Perceptual distance of the held-out images' reconstructions: {Distance:F5}", PerceptualDistance(network,
                    perceptual, Validation(), validationRows));
        }
        var model = new VaeModel(network, config, run.Device);
        var (shift, scale, codes) = Standardisation(model, data);
        if (codes is not null)
        {
            double total = codes.Sum(), entropy = codes.Where(c => c > 0).Sum(c => -(c / total) * Math.Log(c / total));
            int used = codes.Count(c => c > 0);
            run.Logger.LogInformation("Codebook: {Used} of {Codes} codes used by the training images, perplexity {Perplexity:F1}", used, codes.Length,
                Math.Exp(entropy));
            model = new VaeModel(network, config with { CodesUsed = used, CodebookPerplexity = Math.Exp(entropy) }, run.Device);
        }
        run.Logger.LogInformation("Latent standardisation: shift [{Shift}], scale [{Scale}]",
            string.Join(", ", shift.Select(v => v.ToString("F3"))), string.Join(", ", scale.Select(v => v.ToString("F3"))));
        return (model.WithStandardisation(shift, scale), history);
    }

    /// <summary>
    /// The perceptual term's feature network: the small reference digit classifier, trained here for a few epochs on these
    /// training images and their labels (another seed than the run's, float32, no augmentation) and then frozen. It
    /// exists only while the VAE trains; it is not the FID instrument and scores nothing.
    /// </summary>
    private static FeatureClassifier PerceptualNetwork(VaeConfig config, TrainingData data, VaeTrainingSettings settings, TrainingRun run)
    {
        if (!data.HasLabels) throw new ArgumentException("The perceptual term needs the training images' labels.", nameof(data));
        var classifier = new ClassifierConfig { Kind = FidClassifierKind.Small, ImageShape = config.ImageShape, Classes = settings.PerceptualClasses };
        var (model, _) = ClassifierTraining.Fit(classifier, data,
            new ClassifierTrainingSettings { Epochs = settings.PerceptualEpochs, Loop = "vae-perceptual", Purpose = "perceptual feature network" },
            run with { Seed = run.Seed + 1, Precision = TrainingPrecision.Float32, TimeBudget = null });
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

    /// <summary>The mean perceptual distance of the posterior-mean reconstructions of the <paramref name="rows"/> <paramref name="images"/>.</summary>
    private static double PerceptualDistance(VaeNetwork model, FeatureClassifier perceptual, IEnumerable<Tensor> images, int rows)
    {
        using var _ = no_grad();
        double total = 0;
        foreach (var x in images)
        {
            using var input = x;
            using var scope = NewDisposeScope();
            total += PerceptualTerm(perceptual, x, functional.sigmoid(model.forward(x))).sum().item<float>();
        }
        return total / rows;
    }

    /// <summary>
    /// Each latent channel's mean and standard deviation over the posterior means of all images of <paramref name="data"/>,
    /// and for a VQ VAE how many of those latents' positions choose each code: one encoding pass for both.
    /// </summary>
    private static (float[] Shift, float[] Scale, long[]? Codes) Standardisation(VaeModel unit, TrainingData data)
    {
        int channels = unit.Config.LatentChannels;
        var moments = new ChannelMoments(channels, unit.LatentSize / channels);
        var codebook = unit.Network.Quantizer;
        var codes = codebook is null ? null : new long[codebook.Codes];
        foreach (var chunk in data.All(1024))
        {
            int n = chunk.Rows;
            var latents = unit.Encode(chunk.Values, n);
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

    private static TrainingHistory Train(VaeNetwork model, FeatureClassifier? perceptual, IBatchSource batches, Func<IEnumerable<Tensor>> validation,
        int validationRows, VaeTrainingSettings settings, MinibatchLoop loop, ILogger logger, CancellationToken cancellationToken)
    {
        using var adversary = settings.AdversarialWeight > 0 ? new Adversary(model, settings, loop, loop.Settings.Device) : null;
        var objective = new VaeObjective(model, perceptual, adversary, settings, loop);
        var history = loop.Run(new LoopWork
        {
            Module = model, Batches = batches, Loss = (x, _, generator) => objective.Loss(x, generator, true),
            ValidationLoss = () => objective.ValidationLoss(validation, validationRows), AfterStep = objective.AfterStep, ExtraState = adversary?.State,
        }, cancellationToken);
        adversary?.Report(logger);
        return history;
    }

    /// <summary>
    /// The VAE's loss (reconstruction, KL or VQ terms, the optional perceptual and adversarial terms) and what it does
    /// after each step (VQ's code restarts, the discriminator's step).
    /// </summary>
    private sealed class VaeObjective(VaeNetwork model, FeatureClassifier? perceptual, Adversary? adversary, VaeTrainingSettings settings,
        MinibatchLoop loop)
    {
        private readonly Device device = loop.Settings.Device;
        private (Tensor Rows, Tensor Values)? restart;

        public Tensor Loss(Tensor x, Generator? generator, bool sample)
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
            var likelihood = reconstruction;
            // On the scale of the summed pixel loss: weight 1 costs as much as one nat per pixel at the largest distance.
            if (perceptual is not null)
                likelihood = likelihood + settings.PerceptualWeight * x.shape[1] / 4.0 * PerceptualTerm(perceptual, x, functional.sigmoid(logits)).sum();
            var total = (likelihood + regularisation) / x.shape[0];
            if (adversary is not null && generator is not null && loop.CurrentStep >= settings.AdversarialStart)
                total = total + adversary.GeneratorTerm(x, functional.sigmoid(logits), likelihood / x.shape[0]);
            return total;
        }

        /// <summary>
        /// VQ-VAE's terms: the codebook moves to the encoder's outputs, the encoder commits to its codes, and the
        /// decoder's gradient passes the quantisation straight through. Codes that no position of the batch chose
        /// restart, after the step, at encoder outputs drawn at random from the batch (drawn from the loop's generator
        /// and decided by the batch alone, so a resumed run repeats them).
        /// </summary>
        private (Tensor Z, Tensor Loss) Quantized(VectorQuantizer quantizer, Tensor latents, Generator? generator)
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

        /// <summary>After each optimiser step: the code restarts the step's batch decided, then the discriminator's step.</summary>
        public Action<TrainingWeights>? AfterStep => (model.Quantizer, adversary) switch
        {
            (null, null) => null,
            (_, null) => Restart,
            (null, _) => _ => adversary.DiscriminatorStep(),
            _ => w => { Restart(w); adversary.DiscriminatorStep(); },
        };

        private void Restart(TrainingWeights weights)
        {
            if (restart is not { } r) return;
            weights.AssignRows("quantizer.codebook", r.Rows, r.Values);
            restart = null;
        }

        public double ValidationLoss(Func<IEnumerable<Tensor>> validation, int validationRows)
        {
            if (validationRows == 0) return double.NaN;
            using var _ = no_grad();
            double total = 0;
            // One dispose scope per chunk (the chunk's tensors are made inside it): memory stays that of one chunk.
            using var chunks = validation().GetEnumerator();
            while (true)
            {
                using var scope = NewDisposeScope();
                if (!chunks.MoveNext()) break;
                total += Loss(chunks.Current, null, false).item<float>() * chunks.Current.shape[0];
            }
            return total / validationRows;
        }
    }

    /// <summary>
    /// The patch-adversarial term (the latent-diffusion autoencoders' recipe): from <see cref="VaeTrainingSettings.AdversarialStart"/>
    /// on, the VAE's loss gains -mean D(reconstruction), weighted adaptively by the ratio of the likelihood's and this term's
    /// gradient norms at the decoder's last layer (so neither swamps the other, whatever their scales) times
    /// <see cref="VaeTrainingSettings.AdversarialWeight"/>; after each VAE step the discriminator takes one step of its hinge
    /// loss on the batch's images against their (detached) reconstructions, with its own Adam optimiser. Both are
    /// float32 whatever the VAE's precision, and both are in every checkpoint, so a resumed run repeats them exactly.
    /// </summary>
    private sealed class Adversary : IDisposable
    {
        private const int Window = 50;
        private readonly VaeNetwork model;
        private readonly PatchDiscriminator discriminator;
        private readonly optim.Optimizer optimizer;
        private readonly double weight;
        private (Tensor Real, Tensor Fake, double Term, double Weight)? pending;
        private readonly Queue<(double Hinge, double Term, double Weight)> recent = new();
        private long steps;

        public Adversary(VaeNetwork model, VaeTrainingSettings settings, MinibatchLoop loop, Device device)
        {
            this.model = model;
            weight = settings.AdversarialWeight;
            // Its own seed, and the global generator left as it was: the VAE's start does not depend on whether there is a discriminator.
            using var saved = torch.random.get_rng_state();
            manual_seed(loop.Settings.Seed + 2);
            discriminator = new PatchDiscriminator(model.Config.ImageShape, settings.DiscriminatorWidth, device);
            torch.random.set_rng_state(saved);
            optimizer = optim.Adam(discriminator.parameters(), loop.Settings.LearningRate, beta1: 0.5, beta2: 0.9);
            State = new Dictionary<string, CheckpointPart>
            {
                ["discriminator"] = new(w => ModuleWeights.Write(w, discriminator), r => ModuleWeights.Read(r, discriminator, "discriminator")),
                ["discriminatorOptimizer"] = new(w => ((TorchSharp.Modules.OptimizerHelper)optimizer).save_state_dict(w),
                    r => ((TorchSharp.Modules.OptimizerHelper)optimizer).load_state_dict(r)),
            };
        }

        public IReadOnlyDictionary<string, CheckpointPart> State { get; }

        /// <summary>The weighted generator term for this batch; keeps the batch for the discriminator's step.</summary>
        public Tensor GeneratorTerm(Tensor images, Tensor reconstructions, Tensor likelihood)
        {
            var term = -discriminator.forward(reconstructions).mean();
            var last = model.get_parameter(VaeNetwork.DecoderOutputWeight)!;
            using var likelihoodGradient = autograd.grad([likelihood], [last], retain_graph: true)[0];
            using var termGradient = autograd.grad([term], [last], retain_graph: true)[0];
            var adaptive = (likelihoodGradient.to_type(float32).norm() / (termGradient.to_type(float32).norm() + 1e-4)).clamp(0, 1e4).detach();
            pending = (images, reconstructions.detach(), term.item<float>(), adaptive.item<float>());
            return weight * adaptive * term;
        }

        /// <summary>One hinge-loss step of the discriminator on the batch the last generator term saw (none before the start step).</summary>
        public void DiscriminatorStep()
        {
            if (pending is not { } batch) return;
            pending = null;
            optimizer.zero_grad();
            var loss = PatchDiscriminator.HingeLoss(discriminator.forward(batch.Real), discriminator.forward(batch.Fake));
            loss.backward();
            optimizer.step();
            recent.Enqueue((loss.item<float>(), batch.Term, batch.Weight));
            while (recent.Count > Window) recent.Dequeue();
            steps++;
        }

        public void Report(ILogger logger)
        {
            if (steps == 0)
            {
                logger.LogInformation("Adversarial term: no step reached its start");
                return;
            }
            logger.LogInformation("Adversarial term: {Steps} discriminator steps; over the last {Window}: hinge loss {Hinge:F4} (1 = cannot tell), "
                + "generator term {Term:F4}, adaptive weight {Weight:F4}", steps, recent.Count, recent.Average(r => r.Hinge),
                    recent.Average(r => r.Term), recent.Average(r => r.Weight));
        }

        public void Dispose()
        {
            optimizer.Dispose();
            discriminator.Dispose();
        }
    }
}
