using System.Diagnostics;
using System.Text.Json.Nodes;
using LatentDiffusion.Data;
using LatentDiffusion.Diffusion;
using LatentDiffusion.IO;
using LatentDiffusion.MLNet;
using LatentDiffusion.MLNet.Autoencoder;
using LatentDiffusion.MLNet.Denoising;
using LatentDiffusion.MLNet.Evaluation;
using LatentDiffusion.MLNet.Generation;
using LatentDiffusion.Runtime;
using LatentDiffusion.Training;
using Microsoft.Extensions.Logging;
using Microsoft.ML;
using Microsoft.ML.Data;

namespace MnistLatentDiffusion;

/// <summary>The end-to-end run: classifier, VAE, diffusion, 10k samples, evaluation, pictures, report.</summary>
public sealed class MainJob(RunSettings settings, string outputDirectory)
{
    private const int Classes = 10;

    /// <summary>Folder of the training checkpoints (null: none).</summary>
    public string? CheckpointDirectory { get; init; }

    /// <summary>Continue training from the checkpoints in <see cref="CheckpointDirectory"/>.</summary>
    public bool Resume { get; init; }

    /// <summary>
    /// First seed of request set k (k = 1, 2, ...): 100,000,000 + 1,000,000 k + i. Sets 1 to 3 are the solver sweep's
    /// (docs/results.md, issue 31), on which the preset's sampler was chosen; sets 4 to 6 were the main job's until the
    /// run that showed its guidance grid too coarse around 99% accuracy (docs/results.md), so the grid that followed is
    /// reported on sets from <see cref="FirstReportedSet"/> on, on which nothing was chosen.
    /// </summary>
    public static long HeldOutSeed(int set) => 100_000_000L + 1_000_000L * set;

    /// <summary>The first request set the main job reports on (see <see cref="HeldOutSeed"/>).</summary>
    public const int FirstReportedSet = 7;

    /// <summary>First seed of the request set on which the unconditional model's autoguidance scale is chosen.</summary>
    public const long UnconditionalTuningSeed = 9_000_000;

    /// <summary>First seed of the class-balanced request set on which the conditional model's guidance is chosen.</summary>
    public const long ConditionalTuningSeed = 8_000_000;

    /// <summary>bfloat16 is chosen when its measured convolution rate is at least this multiple of float32's.</summary>
    private const double BFloat16Margin = 1.2;

    /// <summary>
    /// With <see cref="RunSettings.MeasurePrecision"/> on the CPU: times a 3x3 convolution at the denoiser's inner shape
    /// (its widest channels on the 7x7 latent, batch 256) in float32 and bfloat16 and trains and samples in the faster
    /// format (bfloat16 only when it is at least <see cref="BFloat16Margin"/> times as fast: its rounding is a cost).
    /// </summary>
    private JsonObject? ChoosePrecision(ComputeDevice device, ILogger logger, CancellationToken token)
    {
        if (!settings.MeasurePrecision || DeviceSelector.Resolve(device).type != TorchSharp.DeviceType.CPU) return null;
        var measured = ComputeCeiling.Measure(2 * settings.DiffusionWidth, 7, 7, seconds: 0.5, matmul: false, token);
        bool bfloat16 = measured.ConvBFloat16 >= BFloat16Margin * measured.ConvFloat32;
        settings = settings with
        {
            TrainingPrecision = bfloat16 ? TrainingPrecision.BFloat16 : TrainingPrecision.Float32,
            SamplingPrecision = bfloat16 ? SamplingPrecision.BFloat16 : SamplingPrecision.Float32,
        };
        logger.LogInformation("Number format: {Format} (3x3 convolution {Shape}, batch 256: {BFloat16:F0} GFLOP/s in bfloat16, {Float32:F0} in float32, measured now)",
            bfloat16 ? "bfloat16" : "float32", measured.ConvShape, measured.ConvBFloat16, measured.ConvFloat32);
        return new JsonObject
        {
            ["convShape"] = measured.ConvShape, ["convFloat32Gflops"] = measured.ConvFloat32, ["convBFloat16Gflops"] = measured.ConvBFloat16,
            ["chosen"] = bfloat16 ? "BFloat16" : "Float32", ["threads"] = measured.Threads,
            ["rule"] = $"bfloat16 for training and sampling when its convolution rate is at least {BFloat16Margin}x float32's, measured at the start of the run",
        };
    }

    public async Task<JsonObject> RunAsync(ILogger logger, IProgress<TrainingProgress>? progress = null, IProgress<StageProgress>? stages = null,
        CancellationToken cancellationToken = default)
    {
        await Task.Yield();
        var total = Stopwatch.StartNew();
        Directory.CreateDirectory(outputDirectory);
        var ml = new MLContext(settings.Seed);
        var device = DeviceSelector.Parse(settings.Device);
        var precisionChoice = ChoosePrecision(device, logger, cancellationToken);
        var fullTrain = ml.Data.LoadMnist(MnistSplit.Train);
        var test = ml.Data.LoadMnist(MnistSplit.Test);
        var train = settings.TrainRows > 0 ? ml.Data.TakeRows(fullTrain, settings.TrainRows) : fullTrain;
        int n = settings.Samples;
        int sets = settings.EvaluationSets;

        // 1. The FID instrument: its accuracy, the floor over disjoint blocks of the training split, and its response to flawed digits.
        var clock = Stopwatch.StartNew();
        var classifier = ml.Transforms.FidEvaluator(new FidEvaluatorOptions
        {
            Epochs = settings.ClassifierEpochs, Seed = settings.Seed, Device = device, Logger = logger, Progress = progress, CancellationToken = cancellationToken, CheckpointDirectory = CheckpointDirectory, ResumeFromCheckpoint = Resume,
        }).Fit(train);
        double classifierSeconds = clock.Elapsed.TotalSeconds;
        var allTestFeatures = classifier.ComputeFeatures(test, labelColumn: "Label");
        double testAccuracy = allTestFeatures.Accuracy!.Value;
        var testSample = n >= 10_000 ? test : ml.Data.TakeRows(test, n);
        var testFeatures = n >= allTestFeatures.Count ? allTestFeatures : classifier.ComputeFeatures(testSample, labelColumn: "Label");
        logger.LogInformation("Classifier ({Kind}): test accuracy {Accuracy:P2} ({Seconds:F0} s)", classifier.ClassifierKind, testAccuracy, classifierSeconds);
        AtomicFile.Write(Path.Combine(outputDirectory, "classifier.zip"), s => ml.Model.Save(classifier, train.Schema, s));

        stages?.Report(new StageProgress("measuring the floor", 0, 0));
        int blocks = Math.Min(6, 60_000 / n);
        var blockViews = Enumerable.Range(0, blocks).Select(b => ml.Data.TakeRows(b == 0 ? fullTrain : ml.Data.SkipRows(fullTrain, b * n), n)).ToArray();
        var blockFeatures = blockViews.Select(v => classifier.ComputeFeatures(v)).ToArray();
        var floor = Measured(blockFeatures.Select(f => classifier.Evaluate(testFeatures, f)).ToArray(), Enumerable.Range(0, blocks).Select(b => $"training images {b * n}..{(b + 1) * n - 1}").ToArray());
        var testImages = Images(testSample);
        var blurred = classifier.Evaluate(classifier.ComputeFeatures(ImageView(ml, Blur(testImages))), blockFeatures[0]);
        var noised = classifier.Evaluate(classifier.ComputeFeatures(ImageView(ml, AddNoise(testImages, 0.1, settings.Seed))), blockFeatures[0]);
        logger.LogInformation("Floor: FID {Mean:F4} +- {Std:F4} over {Blocks} blocks; blurred test digits {Blur:F3}, noised {Noise:F3}", floor.Fid.Mean, floor.Fid.Std, blocks, blurred.Fid, noised.Fid);

        // 2. VAE -> latent diffusion -> generator: one composite estimator fitted on the training split.
        var sampling = new SamplingOptions
        {
            Sampler = settings.Sampler,
            GuidanceScale = settings.GuidanceChoices[0].Scale, GuidanceMinNoise = settings.GuidanceChoices[0].MinNoise, GuidanceMaxNoise = settings.GuidanceChoices[0].MaxNoise,
            Precision = settings.SamplingPrecision, AutoguidanceScale = settings.AutoguidanceScale,
            AutoguidanceMinNoise = settings.AutoguidanceMinNoise, AutoguidanceMaxNoise = settings.AutoguidanceMaxNoise,
        };
        var vaeEstimator = ml.Transforms.EncodeToLatent(new VaeEncoderOptions
        {
            Epochs = settings.VaeEpochs, LatentChannels = settings.VaeLatentChannels, Architecture = settings.VaeArchitecture, Attention = settings.VaeAttention,
            Regularization = settings.VaeRegularization, CodebookSize = settings.VaeCodebookSize, Precision = settings.TrainingPrecision, Seed = settings.Seed, Device = device, Logger = logger, Progress = progress, CancellationToken = cancellationToken, CheckpointDirectory = CheckpointDirectory, ResumeFromCheckpoint = Resume,
        });
        var diffusionTrainer = ml.Transforms.TrainLatentDiffusion(DiffusionOptions(settings.DiffusionWidth, settings.DiffusionEpochs,
            settings.AutoguidanceScale == 1 ? 0 : settings.AutoguidanceEpochs, "Label", sampling, device, logger, progress, CheckpointDirectory, cancellationToken));
        var pipeline = ml.Transforms.GenerateDigits(diffusionTrainer, vaeEstimator, new DigitGeneratorOptions { Sampling = sampling, Seed = settings.Seed });
        clock.Restart();
        var generator = pipeline.Fit(train);
        double chainSeconds = clock.Elapsed.TotalSeconds;
        var vae = generator.Vae!;
        var diffusion = generator.Diffusion;
        double reconstructionMse = vae.ReconstructionMse(test);
        logger.LogInformation("VAE: test reconstruction MSE {Mse:F5}; latent channel scales {Scales}", reconstructionMse, string.Join(", ", vae.Config.LatentScale.Select(v => v.ToString("F3"))));

        // Its guidance is chosen on a tuning request set (class-balanced, seeds ConditionalTuningSeed + i), never on the held-out sets.
        // At the report's own sample size: FID's small-sample bias depends on the set's spread, so a 2,000-image tuning set
        // ranked guidance 2.25 above 3 where 10,000-image sets rank them the other way (docs/results.md, issue 31).
        int tuneCount = n;
        var tuneTest = n >= allTestFeatures.Count ? allTestFeatures : classifier.ComputeFeatures(ml.Data.TakeRows(test, tuneCount));
        var conditionalTuning = new JsonArray();
        var tried = new List<(GuidanceChoice Choice, double Fid, double Accuracy)>();
        foreach (var choice in settings.GuidanceChoices)
        {
            var candidate = generator.Diffusion.Sampling.Clone();
            (candidate.GuidanceScale, candidate.GuidanceMinNoise, candidate.GuidanceMaxNoise) = (choice.Scale, choice.MinNoise, choice.MaxNoise);
            var images = GenerateSet(ml, generator.WithSampling(candidate), Enumerable.Range(0, tuneCount).Select(i => new GenerationRequest { Label = i % Classes, Seed = ConditionalTuningSeed + i }),
                $"tuning guidance {choice}", tuneCount, stages, cancellationToken);
            var view = ml.Data.LoadFromEnumerable(Enumerable.Range(0, tuneCount).Select(i => new LabeledImageRow { Label = i % Classes, Image = images[(i * 784)..((i + 1) * 784)] }));
            var metrics = classifier.Evaluate(classifier.ComputeFeatures(view, nameof(LabeledImageRow.Image), nameof(LabeledImageRow.Label)), tuneTest);
            conditionalTuning.Add(new JsonObject { ["guidanceScale"] = choice.Scale, ["guidanceMinNoise"] = choice.MinNoise, ["guidanceMaxNoise"] = choice.MaxNoise, ["fid"] = metrics.Fid, ["accuracy"] = metrics.ConditionalAccuracy });
            logger.LogInformation("Diffusion, tuning set: guidance {Choice} gives FID {Fid:F3}, accuracy {Accuracy:P2} ({Count} samples)", choice, metrics.Fid, metrics.ConditionalAccuracy, tuneCount);
            tried.Add((choice, metrics.Fid, metrics.ConditionalAccuracy ?? 0));
        }
        var (bestGuidance, unconstrainedGuidance, guidanceRule) = ChooseGuidance(tried, settings.MinimumTuningAccuracy);
        logger.LogInformation("Guidance chosen: {Choice}, {Rule}", bestGuidance, guidanceRule);
        var tunedSampling = generator.Diffusion.Sampling.Clone();
        (tunedSampling.GuidanceScale, tunedSampling.GuidanceMinNoise, tunedSampling.GuidanceMaxNoise) = (bestGuidance.Scale, bestGuidance.MinNoise, bestGuidance.MaxNoise);
        generator = generator.WithSampling(tunedSampling);
        // The saved chain samples with the chosen settings.
        AtomicFile.Write(Path.Combine(outputDirectory, "model.zip"), s => ml.Model.Save(generator, train.Schema, s));

        // 3. The seed's task: a diffusion model trained with no label column at all, on the same VAE's latents.
        var unconditionalSampling = new SamplingOptions
        {
            Sampler = settings.Sampler, Precision = settings.SamplingPrecision,
            AutoguidanceMinNoise = settings.AutoguidanceMinNoise, AutoguidanceMaxNoise = settings.AutoguidanceMaxNoise,
        };
        var latents = ml.Transforms.DropColumns("Label").Fit(train).Transform(vae.Transform(train));
        clock.Restart();
        var unconditionalDiffusion = ml.Transforms.TrainLatentDiffusion(DiffusionOptions(settings.UnconditionalWidth, settings.UnconditionalEpochs, settings.UnconditionalAutoguidanceEpochs, null, unconditionalSampling,
            device, logger, progress, CheckpointDirectory is null ? null : Path.Combine(CheckpointDirectory, "unconditional"), cancellationToken)).Fit(latents);
        double unconditionalSeconds = clock.Elapsed.TotalSeconds;
        var unconditionalModel = ml.Transforms.GenerateDigits(unconditionalDiffusion, vae, new DigitGeneratorOptions { Sampling = unconditionalSampling, Seed = settings.Seed })
            .Fit(ml.Data.LoadFromEnumerable(Array.Empty<GenerationRequest>()));

        // Its autoguidance scale is chosen on a tuning request set, never on the held-out sets it is reported on.
        var tuning = new JsonArray();
        double bestScale = 1, bestFid = double.PositiveInfinity;
        foreach (double scale in settings.UnconditionalAutoguidanceScales)
        {
            var candidate = unconditionalSampling.Clone();
            candidate.AutoguidanceScale = scale;
            var images = GenerateSet(ml, unconditionalModel.WithSampling(candidate), Enumerable.Range(0, tuneCount).Select(i => new GenerationRequest { Label = -1, Seed = UnconditionalTuningSeed + i }),
                $"tuning autoguidance {scale:0.##}", tuneCount, stages, cancellationToken);
            double fid = classifier.Evaluate(classifier.ComputeFeatures(ImageView(ml, images)), tuneTest).Fid;
            tuning.Add(new JsonObject { ["autoguidanceScale"] = scale, ["fid"] = fid });
            logger.LogInformation("Unconditional model, tuning set: autoguidance {Scale:0.##} gives FID {Fid:F3} ({Count} samples)", scale, fid, tuneCount);
            if (fid < bestFid) (bestFid, bestScale) = (fid, scale);
        }
        unconditionalSampling.AutoguidanceScale = bestScale;
        var unconditional = unconditionalModel.WithSampling(unconditionalSampling);
        // Saved once its autoguidance scale is chosen, so that the file samples as the report measured it.
        AtomicFile.Write(Path.Combine(outputDirectory, "unconditional.zip"), s => ml.Model.Save(unconditional, null, s));

        // 4. Every generator row over held-out request sets: class-balanced labels, seeds HeldOutSeed(k) + i from FirstReportedSet on.
        var conditionalRuns = new List<GeneratorMetrics>();
        var unconditionalRuns = new List<GeneratorMetrics>();
        double samplingSeconds = 0, unconditionalSamplingSeconds = 0;
        for (int k = 1; k <= sets; k++)
        {
            long first = HeldOutSeed(FirstReportedSet - 1 + k);
            clock.Restart();
            var images = GenerateSet(ml, generator, Enumerable.Range(0, n).Select(i => new GenerationRequest { Label = i % Classes, Seed = first + i }),
                $"generating set {k} of {sets}", n, stages, cancellationToken);
            samplingSeconds += clock.Elapsed.TotalSeconds;
            var view = ml.Data.LoadFromEnumerable(Enumerable.Range(0, n).Select(i => new LabeledImageRow { Label = i % Classes, Image = images[(i * 784)..((i + 1) * 784)] }));
            conditionalRuns.Add(classifier.Evaluate(classifier.ComputeFeatures(view, nameof(LabeledImageRow.Image), nameof(LabeledImageRow.Label)), testFeatures));
            logger.LogInformation("Diffusion, held-out set {Set}: FID {Fid:F4}, accuracy {Accuracy:P2}", k, conditionalRuns[^1].Fid, conditionalRuns[^1].ConditionalAccuracy);

            clock.Restart();
            var free = GenerateSet(ml, unconditional, Enumerable.Range(0, n).Select(i => new GenerationRequest { Label = -1, Seed = first + 500_000 + i }),
                $"unconditional set {k} of {sets}", n, stages, cancellationToken);
            unconditionalSamplingSeconds += clock.Elapsed.TotalSeconds;
            unconditionalRuns.Add(classifier.Evaluate(classifier.ComputeFeatures(ImageView(ml, free)), testFeatures));
            logger.LogInformation("Unconditional model, held-out set {Set}: FID {Fid:F4}, label entropy {Entropy:F3}", k, unconditionalRuns[^1].Fid, unconditionalRuns[^1].LabelEntropy);
        }
        var setNames = Enumerable.Range(FirstReportedSet, sets).Select(k => $"seeds {HeldOutSeed(k):N0} + i").ToArray();
        var conditional = Measured([.. conditionalRuns], setNames);
        var unconditionalMeasured = Measured([.. unconditionalRuns], Enumerable.Range(FirstReportedSet, sets).Select(k => $"seeds {HeldOutSeed(k) + 500_000:N0} + i").ToArray());

        // 5. The seed's other rows, over as many sets: VAE reconstructions of disjoint training blocks, VAE prior samples, noise.
        stages?.Report(new StageProgress("scoring", 0, 0));
        var reconstructions = Measured(Enumerable.Range(0, Math.Min(sets, blocks)).Select(b => classifier.Evaluate(classifier.ComputeFeatures(ImageView(ml, Reconstruct(vae, blockViews[b]))), testFeatures)).ToArray(),
            Enumerable.Range(0, Math.Min(sets, blocks)).Select(b => $"training images {b * n}..{(b + 1) * n - 1}").ToArray());
        var prior = Measured(Enumerable.Range(1, sets).Select(k => classifier.Evaluate(classifier.ComputeFeatures(ImageView(ml, vae.SamplePrior(n, settings.Seed + k))), testFeatures)).ToArray(),
            Enumerable.Range(1, sets).Select(k => $"seed {settings.Seed + k}").ToArray());
        var moments = PixelMoments(fullTrain);
        var random = Measured(Enumerable.Range(1, sets).Select(k => classifier.Evaluate(classifier.ComputeFeatures(ImageView(ml, RandomImages(moments, n, settings.Seed + k))), testFeatures)).ToArray(),
            Enumerable.Range(1, sets).Select(k => $"seed {settings.Seed + k}").ToArray());
        logger.LogInformation("FID floor {V:F4}, diffusion {D:F4} +- {Ds:F4}, unconditional model {U:F4}, VAE reconstruction {Rec:F4}, VAE {A:F2}, random {R:F2}",
            floor.Fid.Mean, conditional.Fid.Mean, conditional.Fid.Std, unconditionalMeasured.Fid.Mean, reconstructions.Fid.Mean, prior.Fid.Mean, random.Fid.Mean);

        stages?.Report(new StageProgress("scoring", 1, 0));
        cancellationToken.ThrowIfCancellationRequested();
        // 6. Pictures.
        var grid = new List<float[]>();
        var gridImages = generator.Generate(Enumerable.Range(0, 100).Select(i => i / 10).ToArray(), Enumerable.Range(0, 100).Select(i => HeldOutSeed(1) + i).ToArray());
        for (int i = 0; i < 100; i++) grid.Add(gridImages[(i * 784)..((i + 1) * 784)]);
        Pictures.SaveGrid(Path.Combine(outputDirectory, "samples.png"), grid, 10, [1, 28, 28],
            rowTitles: Enumerable.Range(0, Classes).Select(d => $"digit {d}").ToArray());
        var freeGrid = unconditional.Generate(Enumerable.Repeat(-1, 100).ToArray(), Enumerable.Range(0, 100).Select(i => HeldOutSeed(1) + 500_000 + i).ToArray());
        Pictures.SaveGrid(Path.Combine(outputDirectory, "unconditional.png"), Enumerable.Range(0, 100).Select(i => freeGrid[(i * 784)..((i + 1) * 784)]).ToList(), 10, [1, 28, 28]);
        SaveProgression(generator, Path.Combine(outputDirectory, "progression.png"));
        Plots.SaveLossCurves(Path.Combine(outputDirectory, "loss.png"),
            [("classifier", classifier.History), ("VAE", vae.History), ("diffusion", diffusion.History), .. AutoguidanceCurve(diffusion),
             ("unconditional", unconditionalDiffusion.History)]);

        var report = new JsonObject
        {
            ["preset"] = settings.Preset,
            ["seed"] = settings.Seed,
            ["device"] = settings.Device,
            ["samples"] = n,
            ["evaluationSets"] = sets,
            ["trainRows"] = settings.TrainRows > 0 ? settings.TrainRows : 60000,
            ["sampler"] = new JsonObject
            {
                ["name"] = settings.Sampler.Name, ["steps"] = settings.Sampler.Steps,
                ["evaluations"] = generator.Diffusion.EvaluationsPerSample, ["guidanceScale"] = bestGuidance.Scale,
                ["guidanceMinNoise"] = bestGuidance.MinNoise, ["guidanceMaxNoise"] = bestGuidance.MaxNoise, ["autoguidanceScale"] = settings.AutoguidanceScale,
                ["autoguidanceMinNoise"] = settings.AutoguidanceMinNoise, ["autoguidanceMaxNoise"] = settings.AutoguidanceMaxNoise,
                ["precision"] = settings.SamplingPrecision.ToString(),
                ["denoiserPassesPerImage"] = generator.Diffusion.DenoiserPassesPerSample, ["autoguidancePassesPerImage"] = generator.Diffusion.AutoguidancePassesPerSample,
                ["tuning"] = conditionalTuning,
                ["chosenBy"] = guidanceRule, ["minimumTuningAccuracy"] = settings.MinimumTuningAccuracy,
                ["unconstrainedBest"] = new JsonObject { ["guidanceScale"] = unconstrainedGuidance.Scale, ["guidanceMinNoise"] = unconstrainedGuidance.MinNoise, ["guidanceMaxNoise"] = unconstrainedGuidance.MaxNoise },
                ["tuningSeeds"] = $"{ConditionalTuningSeed:N0} + i, labels i mod 10, {tuneCount} samples per choice against the first {tuneCount} test digits",
                ["tunedOn"] = "the guidance scale and band were chosen in this run on the tuning set; the sampler and its steps by the solver sweep (docs/results.md, issue 31: guidance tuned per solver on seeds 8,000,000 + i, chosen on held-out sets 101..103,000,000 + i of a model trained by this preset, as the cheapest setting within the floor's noise of the best); autoguidance off (RunSettings.AutoguidanceScale 1): decided on request sets 300..302 x 1,000,003 + i and 400..402 x 1,000,003 + i of the previous default run's model (docs/results.md); none on this run's held-out sets",
            },
            ["classifier"] = new JsonObject
            {
                ["kind"] = classifier.ClassifierKind.ToString(), ["instrumentVersion"] = classifier.InstrumentVersion, ["augmentation"] = true, ["testAccuracy"] = testAccuracy, ["epochs"] = settings.ClassifierEpochs,
            },
            ["instrument"] = new JsonObject
            {
                ["floor"] = floor.ToJson(),
                ["blurredTestDigitsFid"] = blurred.Fid, ["noisedTestDigitsFid"] = noised.Fid,
                ["distortions"] = "test digits blurred by a 3x3 [1 2 1]/4 kernel, or with Gaussian noise of std 0.1 added (clipped to [0, 1]), against training images 0.." + (n - 1) + "; the floor's first block is the same comparison without the flaw",
            },
            ["trainingPrecision"] = settings.TrainingPrecision.ToString(),
            ["precisionChoice"] = precisionChoice,
            ["vae"] = new JsonObject
            {
                ["reconstructionMse"] = reconstructionMse, ["epochs"] = settings.VaeEpochs, ["architecture"] = vae.Config.Architecture.ToString(), ["attention"] = vae.Config.Attention,
                ["regularization"] = vae.Config.Regularization.ToString(), ["codebookSize"] = vae.Config.CodebookSize, ["codesUsed"] = vae.Config.CodesUsed,
                ["codebookPerplexity"] = vae.Config.CodebookPerplexity,
                ["latentShape"] = new JsonArray(vae.LatentShape.Select(v => (JsonNode)v).ToArray()),
                ["latentChannelScales"] = new JsonArray(vae.Config.LatentScale.Select(v => (JsonNode)(double)v).ToArray()),
            },
            ["diffusionModel"] = new JsonObject
            {
                ["epochs"] = settings.DiffusionEpochs, ["width"] = settings.DiffusionWidth, ["schedule"] = settings.Schedule.ToString(),
                ["objective"] = settings.Objective.ToString(), ["minSnrGamma"] = settings.MinSnrGamma,
                ["autoguidanceWidth"] = diffusion.AutoguidanceHistory.Epochs.Count == 0 ? 0 : settings.AutoguidanceWidth,
                ["autoguidanceEpochs"] = diffusion.AutoguidanceHistory.Epochs.Count == 0 ? 0 : settings.AutoguidanceEpochs,
            },
            ["unconditionalModel"] = new JsonObject
            {
                ["labels"] = "none: trained on a view without the label column",
                ["epochs"] = settings.UnconditionalEpochs, ["width"] = settings.UnconditionalWidth,
                ["autoguidanceWidth"] = settings.AutoguidanceWidth, ["autoguidanceEpochs"] = settings.UnconditionalAutoguidanceEpochs,
                ["autoguidanceScale"] = bestScale, ["tuning"] = tuning, ["tuningSeeds"] = $"{UnconditionalTuningSeed:N0} + i, {tuneCount} samples per scale against the first {tuneCount} test digits",
                ["denoiserPassesPerImage"] = unconditional.Diffusion.DenoiserPassesPerSample, ["autoguidancePassesPerImage"] = unconditional.Diffusion.AutoguidancePassesPerSample,
            },
            ["rows"] = new JsonObject
            {
                ["validation"] = floor.ToJson(),
                ["diffusion"] = conditional.ToJson(),
                ["unconditionalModel"] = unconditionalMeasured.ToJson(),
                ["vaeReconstruction"] = reconstructions.ToJson(),
                ["vae"] = prior.ToJson(),
                ["random"] = random.ToJson(),
            },
            ["fid"] = new JsonObject
            {
                ["validation"] = floor.Fid.Mean, ["random"] = random.Fid.Mean, ["vae"] = prior.Fid.Mean, ["vaeReconstruction"] = reconstructions.Fid.Mean,
                ["diffusion"] = conditional.Fid.Mean, ["unconditionalModel"] = unconditionalMeasured.Fid.Mean,
            },
            ["conditional"] = new JsonObject { ["accuracy"] = conditional.Accuracy?.Mean, ["accuracyStd"] = conditional.Accuracy?.Std },
            ["unconditional"] = new JsonObject { ["labelEntropy"] = unconditionalMeasured.Entropy.Mean, ["labelEntropyStd"] = unconditionalMeasured.Entropy.Std, ["maxEntropy"] = Math.Log(Classes) },
            ["timings"] = new JsonObject
            {
                ["classifierSeconds"] = classifierSeconds, ["vaeSeconds"] = vae.History.TotalSeconds, ["diffusionSeconds"] = diffusion.History.TotalSeconds,
                ["autoguidanceSeconds"] = diffusion.AutoguidanceHistory.TotalSeconds,
                ["chainFitSeconds"] = chainSeconds, ["unconditionalModelSeconds"] = unconditionalSeconds,
                ["samplingSeconds"] = samplingSeconds, ["unconditionalSamplingSeconds"] = unconditionalSamplingSeconds, ["totalSeconds"] = total.Elapsed.TotalSeconds,
            },
            ["throughput"] = new JsonObject
            {
                ["generationImagesPerSecond"] = sets * n / samplingSeconds, ["unconditionalImagesPerSecond"] = sets * n / unconditionalSamplingSeconds,
                ["diffusionTrainSamplesPerSecond"] = diffusion.History.SamplesPerSecond,
                ["vaeTrainSamplesPerSecond"] = vae.History.SamplesPerSecond, ["classifierTrainSamplesPerSecond"] = classifier.History.SamplesPerSecond,
            },
            ["peakWorkingSetMegabytes"] = Process.GetCurrentProcess().PeakWorkingSet64 / 1048576.0,
        };
        Report.Write(outputDirectory, report);
        return report;
    }

    private LatentDiffusionOptions DiffusionOptions(int width, int epochs, int autoguidanceEpochs, string? labelColumn, SamplingOptions sampling, ComputeDevice device, ILogger logger,
        IProgress<TrainingProgress>? progress, string? checkpoints, CancellationToken cancellationToken) => new()
    {
        LabelColumnName = labelColumn, Epochs = epochs, Width = width,
        // No autoguidance epochs: no autoguidance denoiser at all.
        AutoguidanceWidth = autoguidanceEpochs > 0 ? settings.AutoguidanceWidth : 0, AutoguidanceEpochs = Math.Max(1, autoguidanceEpochs),
        Schedule = settings.Schedule, Objective = settings.Objective, LossWeighting = LossWeighting.MinSnr, MinSnrGamma = settings.MinSnrGamma,
        Precision = settings.TrainingPrecision, Seed = settings.Seed, Device = device, Sampling = sampling,
        Logger = logger, Progress = progress, CancellationToken = cancellationToken, CheckpointDirectory = checkpoints, ResumeFromCheckpoint = Resume && checkpoints is not null,
    };

    /// <summary>The images <paramref name="generator"/> makes for <paramref name="requests"/>, read through its IDataView path, one after another.</summary>
    private static float[] GenerateSet(MLContext ml, DigitGeneratorTransformer generator, IEnumerable<GenerationRequest> requests, string stage, int count, IProgress<StageProgress>? stages, CancellationToken token)
    {
        var view = generator.Transform(ml.Data.LoadFromEnumerable(requests));
        var result = new float[count * 784];
        int i = 0;
        foreach (var image in WithProgress(view.GetColumn<float[]>(generator.OutputColumnName), stage, count, stages, token)) image.CopyTo(result, 784 * i++);
        return result;
    }

    /// <summary>A row measured over several image sets: each metric's mean and sample standard deviation, with the sets named.</summary>
    private sealed record MeasuredRow(GeneratorMetrics[] Runs, string[] Sets)
    {
        public (double Mean, double Std) Fid => Stat(Runs.Select(r => r.Fid));
        public (double Mean, double Std)? Accuracy => Runs.All(r => r.ConditionalAccuracy is not null) ? Stat(Runs.Select(r => r.ConditionalAccuracy!.Value)) : null;
        public (double Mean, double Std) Entropy => Stat(Runs.Select(r => r.LabelEntropy));

        private static (double, double) Stat(IEnumerable<double> values)
        {
            var v = values.ToArray();
            double mean = v.Average();
            return (mean, v.Length < 2 ? 0 : Math.Sqrt(v.Sum(x => (x - mean) * (x - mean)) / (v.Length - 1)));
        }

        public JsonObject ToJson()
        {
            JsonObject Of((double Mean, double Std) s, IEnumerable<double> values) =>
                new() { ["mean"] = s.Mean, ["std"] = s.Std, ["values"] = new JsonArray(values.Select(x => (JsonNode)x).ToArray()) };
            var json = new JsonObject
            {
                ["sets"] = new JsonArray(Sets.Select(s => (JsonNode)s).ToArray()),
                ["fid"] = Of(Fid, Runs.Select(r => r.Fid)),
                ["kid"] = Of(Stat(Runs.Select(r => r.KidMean)), Runs.Select(r => r.KidMean)),
                ["precision"] = Of(Stat(Runs.Select(r => r.Precision)), Runs.Select(r => r.Precision)),
                ["recall"] = Of(Stat(Runs.Select(r => r.Recall)), Runs.Select(r => r.Recall)),
                ["labelEntropy"] = Of(Entropy, Runs.Select(r => r.LabelEntropy)),
            };
            if (Accuracy is { } accuracy) json["accuracy"] = Of(accuracy, Runs.Select(r => r.ConditionalAccuracy!.Value));
            return json;
        }
    }

    private static MeasuredRow Measured(GeneratorMetrics[] runs, string[] sets) => new(runs, sets);

    /// <summary>Every image of <paramref name="view"/>'s Image column, row after row.</summary>
    private static float[] Images(IDataView view) => view.GetColumn<float[]>("Image").SelectMany(v => v).ToArray();

    /// <summary>28x28 images blurred by the separable kernel [1 2 1]/4 (zeros outside).</summary>
    private static float[] Blur(float[] images)
    {
        var result = new float[images.Length];
        var row = new float[784];
        for (int offset = 0; offset < images.Length; offset += 784)
        {
            for (int y = 0; y < 28; y++)
                for (int x = 0; x < 28; x++)
                    row[y * 28 + x] = (2 * images[offset + y * 28 + x] + (x > 0 ? images[offset + y * 28 + x - 1] : 0) + (x < 27 ? images[offset + y * 28 + x + 1] : 0)) / 4;
            for (int y = 0; y < 28; y++)
                for (int x = 0; x < 28; x++)
                    result[offset + y * 28 + x] = (2 * row[y * 28 + x] + (y > 0 ? row[(y - 1) * 28 + x] : 0) + (y < 27 ? row[(y + 1) * 28 + x] : 0)) / 4;
        }
        return result;
    }

    /// <summary>Images with Gaussian noise of standard deviation <paramref name="std"/> added, clipped to [0, 1].</summary>
    private static float[] AddNoise(float[] images, double std, int seed)
    {
        var random = new Random(seed);
        return images.Select(v => (float)Math.Clamp(v + std * random.NextGaussian(), 0, 1)).ToArray();
    }

    /// <summary>The rows of a generating view as they are read, reporting progress and stopping when cancelled.</summary>
    private static IEnumerable<float[]> WithProgress(IEnumerable<float[]> rows, string stage, int total, IProgress<StageProgress>? stages, CancellationToken token)
    {
        int done = 0;
        foreach (var row in rows)
        {
            token.ThrowIfCancellationRequested();
            if (++done % 256 == 0 || done == total) stages?.Report(new StageProgress(stage, done, total));
            yield return row;
        }
    }

    private static (string, TrainingHistory)[] AutoguidanceCurve(LatentDiffusionTransformer diffusion) =>
        diffusion.AutoguidanceWidth > 0 ? [("autoguidance", diffusion.AutoguidanceHistory)] : [];

    /// <summary>
    /// The denoising progression of one digit of each class: at six of the sampler's steps, the noisy state x_t the step
    /// starts from and the clean digit the model predicts there (decoded by the VAE), in labelled columns; the last
    /// column is the sample.
    /// </summary>
    private static void SaveProgression(DigitGeneratorTransformer generator, string path)
    {
        var labels = Enumerable.Range(0, Classes).ToArray();
        var seeds = labels.Select(l => 3_000_000L + l).ToArray();
        var trajectory = generator.Trajectory(labels, seeds);
        var picks = Enumerable.Range(0, 5).Select(k => (int)Math.Round(k * (trajectory.Length - 1) / 5.0)).ToArray();
        int size = generator.ImageSize;
        var titles = new List<string>();
        foreach (int step in picks) titles.AddRange([$"x_t, step {step + 1}", $"predicted x0"]);
        titles.Add("sample");
        var cells = new List<float[]>();
        foreach (var label in labels)
        {
            foreach (int step in picks)
            {
                cells.Add(trajectory[step].Noisy[(label * size)..((label + 1) * size)]);
                cells.Add(trajectory[step].Predicted[(label * size)..((label + 1) * size)]);
            }
            cells.Add(trajectory[^1].Predicted[(label * size)..((label + 1) * size)]);
        }
        Pictures.SaveGrid(path, cells, titles.Count, generator.ImageShape, zoom: 3, columnTitles: titles, rowTitles: labels.Select(l => $"digit {l}").ToArray());
    }

    /// <summary>
    /// The guidance setting to sample with: the lowest tuning-set FID among the settings whose accuracy on the digit
    /// asked for reaches <paramref name="minimumAccuracy"/>; when none does, the lowest FID of all (and the rule says
    /// so). Also the unconstrained lowest FID, which the report shows beside it so that the trade-off is visible.
    /// </summary>
    public static (GuidanceChoice Chosen, GuidanceChoice Unconstrained, string Rule) ChooseGuidance(
        IReadOnlyList<(GuidanceChoice Choice, double Fid, double Accuracy)> tried, double minimumAccuracy)
    {
        if (tried.Count == 0) throw new ArgumentException("No guidance setting was tried.", nameof(tried));
        var unconstrained = tried.MinBy(t => t.Fid);
        var accurate = tried.Where(t => t.Accuracy >= minimumAccuracy).ToList();
        if (accurate.Count == 0)
            return (unconstrained.Choice, unconstrained.Choice,
                FormattableString.Invariant($"the lowest FID: no setting reached the accuracy floor of {minimumAccuracy:P0} (best {tried.Max(t => t.Accuracy):P1})"));
        var chosen = accurate.MinBy(t => t.Fid);
        return (chosen.Choice, unconstrained.Choice, chosen.Choice == unconstrained.Choice
            ? FormattableString.Invariant($"the lowest FID, and its accuracy reaches {minimumAccuracy:P0}")
            : FormattableString.Invariant($"the lowest FID among the settings with accuracy >= {minimumAccuracy:P0}; without that floor {unconstrained.Choice} would give FID {unconstrained.Fid:F3} at {unconstrained.Accuracy:P1} (against {chosen.Fid:F3} at {chosen.Accuracy:P1})"));
    }

    /// <summary>The per-pixel mean and standard deviation of <paramref name="train"/>'s images, read once.</summary>
    private static (double[] Mean, double[] Std) PixelMoments(IDataView train)
    {
        var mean = new double[784];
        var sq = new double[784];
        long rows = 0;
        using (var cursor = train.GetRowCursor([train.Schema["Image"]]))
        {
            var getter = cursor.GetGetter<VBuffer<float>>(train.Schema["Image"]);
            VBuffer<float> v = default;
            while (cursor.MoveNext())
            {
                getter(ref v);
                var values = v.GetValues();
                for (int i = 0; i < 784; i++) { mean[i] += values[i]; sq[i] += values[i] * (double)values[i]; }
                rows++;
            }
        }
        for (int i = 0; i < 784; i++)
        {
            mean[i] /= rows;
            sq[i] = Math.Sqrt(Math.Max(sq[i] / rows - mean[i] * mean[i], 0));
        }
        return (mean, sq);
    }

    /// <summary>Gaussian noise with the training set's per-pixel mean and standard deviation (the seed's "Random" row).</summary>
    private static float[] RandomImages((double[] Mean, double[] Std) moments, int count, int seed)
    {
        var random = new Random(seed);
        var result = new float[count * 784];
        for (int r = 0; r < count; r++)
            for (int i = 0; i < 784; i++)
                result[r * 784 + i] = (float)(moments.Mean[i] + moments.Std[i] * random.NextGaussian());
        return result;
    }

    /// <summary>decode(encode(x)) for every image of <paramref name="images"/>.</summary>
    private static float[] Reconstruct(VaeEncoderTransformer vae, IDataView images)
    {
        var latents = vae.Transform(images).GetColumn<float[]>(vae.LatentColumnName).SelectMany(z => z).ToArray();
        return vae.Decode(latents, latents.Length / (vae.LatentShape[0] * vae.LatentShape[1] * vae.LatentShape[2]));
    }

    internal static IDataView ImageView(MLContext ml, float[] images) =>
        ml.Data.LoadFromEnumerable(Enumerable.Range(0, images.Length / 784).Select(i => new ImageRow { Image = images[(i * 784)..((i + 1) * 784)] }));
}

/// <summary>A generated image with the label it was asked for.</summary>
public sealed class LabeledImageRow
{
    public int Label { get; set; }
    [VectorType(784)]
    public float[] Image { get; set; } = [];
}

/// <summary>A row holding one 28x28 image.</summary>
public sealed class ImageRow
{
    [VectorType(784)]
    public float[] Image { get; set; } = [];
}

internal static class RandomExtensions
{
    public static double NextGaussian(this Random random)
    {
        double u = 1 - random.NextDouble(), v = random.NextDouble();
        return Math.Sqrt(-2 * Math.Log(u)) * Math.Cos(2 * Math.PI * v);
    }
}
