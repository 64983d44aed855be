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
using MnistLatentDiffusion.Benchmarks;
using MnistLatentDiffusion.CommandLine;
using MnistLatentDiffusion.Reports;

namespace MnistLatentDiffusion.Jobs;

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
        logger.LogInformation("Number format: {Format} (3x3 convolution {Shape}, batch 256: {BFloat16:F0} GFLOP/s in bfloat16, {Float32:F0} in float32, "
            + "measured now)",
            bfloat16 ? "bfloat16" : "float32", measured.ConvShape, measured.ConvBFloat16, measured.ConvFloat32);
        return new JsonObject
        {
            ["convShape"] = measured.ConvShape, ["convFloat32Gflops"] = measured.ConvFloat32, ["convBFloat16Gflops"] = measured.ConvBFloat16,
            ["chosen"] = bfloat16 ? "BFloat16" : "Float32", ["threads"] = measured.Threads,
            ["rule"] = $"bfloat16 for training and sampling when its convolution rate is at least {BFloat16Margin}x float32's, measured at the start of the "
                + $"run",
        };
    }

    /// <summary>What every stage of one run shares: the context, its data, the reporting, and the sizes of the evaluation.</summary>
    private sealed record Run(MLContext Ml, ComputeDevice Device, ILogger Logger, IProgress<TrainingProgress>? Progress, IProgress<StageProgress>? Stages,
        CancellationToken Token, IDataView FullTrain, IDataView Train, IDataView Test, int N, int Sets);

    /// <summary>The FID instrument and what it measured before any generator: test accuracy, the floor, flawed digits.</summary>
    private sealed record Instrument(FidEvaluatorTransformer Classifier, double Seconds, double TestAccuracy, FeatureSet AllTest, FeatureSet Test,
        IDataView[] Blocks, MeasuredRow Floor, GeneratorMetrics Blurred, GeneratorMetrics Noised);

    /// <summary>The class-conditional generator, its guidance chosen on the tuning set.</summary>
    private sealed record Conditional(DigitGeneratorTransformer Generator, double ChainSeconds, double ReconstructionMse, JsonArray Tuning,
        GuidanceChoice Best, GuidanceChoice Unconstrained, string Rule, int TuneCount);

    /// <summary>The model trained without labels, its autoguidance scale chosen on its tuning set.</summary>
    private sealed record Unconditional(LatentDiffusionTransformer Diffusion, DigitGeneratorTransformer Generator, double Seconds, double Scale,
        double GuidanceScale,
        JsonArray Tuning);

    /// <summary>The generators over the held-out request sets, and the seed's other rows.</summary>
    private sealed record Rows(MeasuredRow Conditional, MeasuredRow Unconditional, double SamplingSeconds, double UnconditionalSamplingSeconds,
        MeasuredRow Reconstructions, MeasuredRow Prior, MeasuredRow Random, MeasuredRow? FewStep, double FewStepSamplingSeconds);

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
        var train = settings.TrainRows > 0 ? ml.Data.TakeRows(fullTrain, settings.TrainRows) : fullTrain;
        var run = new Run(ml, device, logger, progress, stages, cancellationToken, fullTrain, train, ml.Data.LoadMnist(MnistSplit.Test), settings.Samples,
            settings.EvaluationSets);
        var instrument = TrainInstrument(run);
        var conditional = TrainConditional(run, instrument);
        var fewStep = settings.FewStepEpochs == 0 ? null : new FewStepStage(settings, outputDirectory, CheckpointDirectory, Resume)
            .Run(ml, train, conditional.Generator, device, logger, progress, cancellationToken);
        var unconditional = TrainUnconditional(run, instrument, conditional);
        var rows = MeasureRows(run, instrument, conditional.Generator, unconditional.Generator, fewStep?.Generator);
        stages?.Report(new StageProgress("scoring", 1, 0));
        cancellationToken.ThrowIfCancellationRequested();
        SavePictures(instrument, conditional, unconditional);
        var report = MainJobReport.Build(settings, new MainJobReport.Parts(run.N, run.Sets, precisionChoice, instrument.Classifier, instrument.Seconds,
            instrument.TestAccuracy, instrument.Floor, instrument.Blurred, instrument.Noised, conditional.Generator, conditional.ChainSeconds,
            conditional.ReconstructionMse, conditional.Tuning, conditional.Best, conditional.Unconstrained, conditional.Rule, conditional.TuneCount,
            unconditional.Diffusion, unconditional.Generator, unconditional.Seconds, unconditional.Scale, unconditional.GuidanceScale, unconditional.Tuning,
            rows.Conditional, rows.Unconditional, rows.SamplingSeconds, rows.UnconditionalSamplingSeconds, rows.Reconstructions, rows.Prior, rows.Random,
            fewStep, rows.FewStep, rows.FewStepSamplingSeconds, total.Elapsed.TotalSeconds));
        Report.Write(outputDirectory, report);
        return report;
    }

    /// <summary>1. The FID instrument: its accuracy, the floor over disjoint blocks of the training split, and its response to flawed digits.</summary>
    private Instrument TrainInstrument(Run run)
    {
        var (ml, n) = (run.Ml, run.N);
        var clock = Stopwatch.StartNew();
        var classifier = ml.Transforms.FidEvaluator(new FidEvaluatorOptions
        {
            Epochs = settings.ClassifierEpochs, Seed = settings.Seed, Device = run.Device, Logger = run.Logger, Progress = run.Progress,
            CancellationToken = run.Token, CheckpointDirectory = CheckpointDirectory, ResumeFromCheckpoint = Resume,
        }).Fit(run.Train);
        double seconds = clock.Elapsed.TotalSeconds;
        var allTest = classifier.ComputeFeatures(run.Test, labelColumn: "Label");
        double testAccuracy = allTest.Accuracy!.Value;
        var testSample = n >= 10_000 ? run.Test : ml.Data.TakeRows(run.Test, n);
        var test = n >= allTest.Count ? allTest : classifier.ComputeFeatures(testSample, labelColumn: "Label");
        run.Logger.LogInformation("Classifier ({Kind}): test accuracy {Accuracy:P2} ({Seconds:F0} s)", classifier.ClassifierKind, testAccuracy, seconds);
        AtomicFile.Write(Path.Combine(outputDirectory, "classifier.zip"), s => ml.Model.Save(classifier, run.Train.Schema, s));

        run.Stages?.Report(new StageProgress("measuring the floor", 0, 0));
        int blocks = Math.Min(6, 60_000 / n);
        var blockViews = Enumerable.Range(0, blocks).Select(b => ml.Data.TakeRows(b == 0 ? run.FullTrain : ml.Data.SkipRows(run.FullTrain, b * n),
            n)).ToArray();
        var blockFeatures = blockViews.Select(v => classifier.ComputeFeatures(v)).ToArray();
        var floor = new MeasuredRow(blockFeatures.Select(f => classifier.Evaluate(test, f)).ToArray(),
            Enumerable.Range(0, blocks).Select(b => $"training images {b * n}..{(b + 1) * n - 1}").ToArray());
        var testImages = ImageSets.Images(testSample);
        var blurred = classifier.Evaluate(classifier.ComputeFeatures(ImageSets.View(ml, ImageSets.Blur(testImages))), blockFeatures[0]);
        var noised = classifier.Evaluate(classifier.ComputeFeatures(ImageSets.View(ml, ImageSets.AddNoise(testImages, 0.1, settings.Seed))), blockFeatures[0]);
        run.Logger.LogInformation("Floor: FID {Mean:F4} +- {Std:F4} over {Blocks} blocks; blurred test digits {Blur:F3}, noised {Noise:F3}", floor.Fid.Mean,
            floor.Fid.Std, blocks, blurred.Fid, noised.Fid);
        return new Instrument(classifier, seconds, testAccuracy, allTest, test, blockViews, floor, blurred, noised);
    }

    /// <summary>
    /// 2. VAE -> latent diffusion -> generator: one composite estimator fitted on the training split; its guidance chosen
    /// on a tuning request set (class-balanced, seeds <see cref="ConditionalTuningSeed"/> + i), never on the held-out sets.
    /// </summary>
    private Conditional TrainConditional(Run run, Instrument instrument)
    {
        var ml = run.Ml;
        var first = settings.GuidanceChoices[0];
        var sampling = new SamplingOptions
        {
            Sampler = settings.Sampler, GuidanceScale = first.Scale, GuidanceMinNoise = first.MinNoise, GuidanceMaxNoise = first.MaxNoise,
            Precision = settings.SamplingPrecision, AutoguidanceScale = settings.AutoguidanceScale,
            AutoguidanceMinNoise = settings.AutoguidanceMinNoise, AutoguidanceMaxNoise = settings.AutoguidanceMaxNoise,
        };
        var vaeEstimator = ml.Transforms.EncodeToLatent(new VaeEncoderOptions
        {
            Epochs = settings.VaeEpochs, LatentChannels = settings.VaeLatentChannels, Architecture = settings.VaeArchitecture,
                Attention = settings.VaeAttention,
            Regularization = settings.VaeRegularization, CodebookSize = settings.VaeCodebookSize, Precision = settings.TrainingPrecision, Seed = settings.Seed,
            Device = run.Device, Logger = run.Logger, Progress = run.Progress, CancellationToken = run.Token, CheckpointDirectory = CheckpointDirectory,
            ResumeFromCheckpoint = Resume,
        });
        var diffusionTrainer = ml.Transforms.TrainLatentDiffusion(DiffusionOptions(settings.DiffusionWidth, settings.DiffusionEpochs,
            settings.AutoguidanceScale == 1 ? 0 : settings.AutoguidanceEpochs, "Label", sampling, run, CheckpointDirectory));
        var pipeline = ml.Transforms.GenerateDigits(diffusionTrainer, vaeEstimator, new DigitGeneratorOptions { Sampling = sampling, Seed = settings.Seed });
        var clock = Stopwatch.StartNew();
        var generator = pipeline.Fit(run.Train);
        double chainSeconds = clock.Elapsed.TotalSeconds;
        var vae = generator.Vae!;
        double reconstructionMse = vae.ReconstructionMse(run.Test);
        run.Logger.LogInformation("VAE: test reconstruction MSE {Mse:F5}; latent channel scales {Scales}", reconstructionMse,
            string.Join(", ", vae.Config.LatentScale.Select(v => v.ToString("F3"))));
        // At the report's own sample size: FID's small-sample bias depends on the set's spread, so a 2,000-image tuning set
        // ranked guidance 2.25 above 3 where 10,000-image sets rank them the other way (docs/results.md, issue 31).
        int tuneCount = run.N;
        var tuneTest = TuneReference(run, instrument);
        var tuning = new JsonArray();
        var tried = new List<(GuidanceChoice Choice, double Fid, double Accuracy)>();
        foreach (var choice in settings.GuidanceChoices)
        {
            var metrics = TuneGuidance(run, instrument.Classifier, generator, choice, tuneCount, tuneTest);
            tuning.Add(new JsonObject
            {
                ["guidanceScale"] = choice.Scale, ["guidanceMinNoise"] = choice.MinNoise, ["guidanceMaxNoise"] = choice.MaxNoise, ["fid"] = metrics.Fid,
                ["accuracy"] = metrics.ConditionalAccuracy,
            });
            tried.Add((choice, metrics.Fid, metrics.ConditionalAccuracy ?? 0));
        }
        var (best, unconstrained, rule) = ChooseGuidance(tried, settings.MinimumTuningAccuracy);
        run.Logger.LogInformation("Guidance chosen: {Choice}, {Rule}", best, rule);
        var tuned = generator.Diffusion.Sampling.Clone();
        (tuned.GuidanceScale, tuned.GuidanceMinNoise, tuned.GuidanceMaxNoise) = (best.Scale, best.MinNoise, best.MaxNoise);
        generator = generator.WithSampling(tuned);
        // The saved chain samples with the chosen settings.
        AtomicFile.Write(Path.Combine(outputDirectory, "model.zip"), s => ml.Model.Save(generator, run.Train.Schema, s));
        return new Conditional(generator, chainSeconds, reconstructionMse, tuning, best, unconstrained, rule, tuneCount);
    }

    /// <summary>The test digits the tuning sets are scored against: the first <see cref="Run.N"/> of them.</summary>
    private static FeatureSet TuneReference(Run run, Instrument instrument) => run.N >= instrument.AllTest.Count
        ? instrument.AllTest : instrument.Classifier.ComputeFeatures(run.Ml.Data.TakeRows(run.Test, run.N));

    /// <summary>The generator with one guidance setting, on the tuning request set.</summary>
    private static GeneratorMetrics TuneGuidance(Run run, FidEvaluatorTransformer classifier, DigitGeneratorTransformer generator, GuidanceChoice choice,
        int tuneCount, FeatureSet tuneTest)
    {
        var candidate = generator.Diffusion.Sampling.Clone();
        (candidate.GuidanceScale, candidate.GuidanceMinNoise, candidate.GuidanceMaxNoise) = (choice.Scale, choice.MinNoise, choice.MaxNoise);
        var requests = Enumerable.Range(0, tuneCount).Select(i => new GenerationRequest { Label = i % Classes, Seed = ConditionalTuningSeed + i });
        var images = ImageSets.Generate(run.Ml, generator.WithSampling(candidate), requests, $"tuning guidance {choice}", tuneCount, run.Stages, run.Token);
        var metrics = classifier.Evaluate(classifier.ComputeFeatures(ImageSets.LabeledView(run.Ml, images, Classes), nameof(LabeledImageRow.Image),
            nameof(LabeledImageRow.Label)), tuneTest);
        run.Logger.LogInformation("Diffusion, tuning set: guidance {Choice} gives FID {Fid:F3}, accuracy {Accuracy:P2} ({Count} samples)", choice, metrics.Fid,
            metrics.ConditionalAccuracy, tuneCount);
        return metrics;
    }

    /// <summary>
    /// 3. The seed's task: a diffusion model trained with no label column at all, on the same VAE's latents, with
    /// self-labelled guidance (<see cref="RunSettings.UnconditionalClusters"/> k-means clusters of the latents; issue 44)
    /// and an autoguidance denoiser; its guidance scale, then its autoguidance scale, chosen on a tuning request set,
    /// never on the held-out sets it is reported on.
    /// </summary>
    private Unconditional TrainUnconditional(Run run, Instrument instrument, Conditional conditional)
    {
        var ml = run.Ml;
        var vae = conditional.Generator.Vae!;
        var sampling = new SamplingOptions
        {
            Sampler = settings.Sampler, Precision = settings.SamplingPrecision,
            AutoguidanceMinNoise = settings.AutoguidanceMinNoise, AutoguidanceMaxNoise = settings.AutoguidanceMaxNoise,
        };
        var latents = ml.Transforms.DropColumns("Label").Fit(run.Train).Transform(vae.Transform(run.Train));
        var clock = Stopwatch.StartNew();
        var options = DiffusionOptions(settings.UnconditionalWidth, settings.UnconditionalEpochs, settings.UnconditionalAutoguidanceEpochs, null, sampling, run,
            CheckpointDirectory is null ? null : Path.Combine(CheckpointDirectory, "unconditional"));
        options.SelfLabelClusters = settings.UnconditionalClusters;
        var diffusion = ml.Transforms.TrainLatentDiffusion(options).Fit(latents);
        double seconds = clock.Elapsed.TotalSeconds;
        var model = ml.Transforms.GenerateDigits(diffusion, vae, new DigitGeneratorOptions { Sampling = sampling, Seed = settings.Seed })
            .Fit(ml.Data.LoadFromEnumerable(Array.Empty<GenerationRequest>()));
        var tuning = new JsonArray();
        double[] guidanceScales = settings.UnconditionalClusters > 0 ? settings.UnconditionalGuidanceScales : [1.0];
        sampling.GuidanceScale = TuneUnconditional(run, instrument, model, sampling, guidanceScales, (s, v) => s.GuidanceScale = v, "guidance", tuning);
        sampling.AutoguidanceScale = TuneUnconditional(run, instrument, model, sampling, settings.UnconditionalAutoguidanceScales,
            (s, v) => s.AutoguidanceScale = v, "autoguidance", tuning);
        var unconditional = model.WithSampling(sampling);
        // Saved once its scales are chosen, so that the file samples as the report measured it.
        AtomicFile.Write(Path.Combine(outputDirectory, "unconditional.zip"), s => ml.Model.Save(unconditional, null, s));
        return new Unconditional(diffusion, unconditional, seconds, sampling.AutoguidanceScale, sampling.GuidanceScale, tuning);
    }

    /// <summary>The value of one sampling setting of the unconditional model with the lowest FID on its tuning set (the others as they are).</summary>
    private static double TuneUnconditional(Run run, Instrument instrument, DigitGeneratorTransformer model, SamplingOptions sampling, double[] values,
        Action<SamplingOptions, double> set, string name, JsonArray tuning)
    {
        var tuneTest = TuneReference(run, instrument);
        double best = values[0], bestFid = double.PositiveInfinity;
        foreach (double value in values.Length > 1 ? values : [])
        {
            var candidate = sampling.Clone();
            set(candidate, value);
            var requests = Enumerable.Range(0, run.N).Select(i => new GenerationRequest { Label = -1, Seed = UnconditionalTuningSeed + i });
            var images = ImageSets.Generate(run.Ml, model.WithSampling(candidate), requests, $"tuning {name} {value:0.##}", run.N, run.Stages, run.Token);
            double fid = instrument.Classifier.Evaluate(instrument.Classifier.ComputeFeatures(ImageSets.View(run.Ml, images)), tuneTest).Fid;
            tuning.Add(new JsonObject
            {
                ["guidanceScale"] = candidate.GuidanceScale, ["autoguidanceScale"] = candidate.AutoguidanceScale, ["fid"] = fid,
            });
            run.Logger.LogInformation("Unconditional model, tuning set: {Name} {Value:0.##} gives FID {Fid:F3} ({Count} samples)", name, value, fid, run.N);
            if (fid < bestFid) (bestFid, best) = (fid, value);
        }
        return best;
    }

    /// <summary>
    /// 4. Every generator row over held-out request sets (class-balanced labels, seeds HeldOutSeed(k) + i from
    /// <see cref="FirstReportedSet"/> on); 5. the seed's other rows over as many sets: VAE reconstructions of disjoint
    /// training blocks, VAE prior samples, noise.
    /// </summary>
    private Rows MeasureRows(Run run, Instrument instrument, DigitGeneratorTransformer generator, DigitGeneratorTransformer unconditional,
        DigitGeneratorTransformer? fast)
    {
        var (ml, n, sets, classifier, test) = (run.Ml, run.N, run.Sets, instrument.Classifier, instrument.Test);
        var (conditional, samplingSeconds) = MeasureConditional(run, instrument, generator, "Class-conditional");
        var unconditionalRuns = new List<GeneratorMetrics>();
        double unconditionalSamplingSeconds = 0;
        for (int k = 1; k <= sets; k++)
        {
            long first = HeldOutSeed(FirstReportedSet - 1 + k);
            var clock = Stopwatch.StartNew();
            var free = ImageSets.Generate(ml, unconditional, Enumerable.Range(0, n).Select(i => new GenerationRequest { Label = -1,
                Seed = first + 500_000 + i }),
                $"unconditional set {k} of {sets}", n, run.Stages, run.Token);
            unconditionalSamplingSeconds += clock.Elapsed.TotalSeconds;
            unconditionalRuns.Add(classifier.Evaluate(classifier.ComputeFeatures(ImageSets.View(ml, free)), test));
            run.Logger.LogInformation("Unconditional model, held-out set {Set}: FID {Fid:F4}, label entropy {Entropy:F3}", k, unconditionalRuns[^1].Fid,
                unconditionalRuns[^1].LabelEntropy);
        }
        var unconditionalRow = new MeasuredRow([.. unconditionalRuns],
            Enumerable.Range(FirstReportedSet, sets).Select(k => $"seeds {HeldOutSeed(k) + 500_000:N0} + i").ToArray());
        var (fewStep, fewStepSeconds) = fast is null ? (null, 0) : MeasureConditional(run, instrument, fast, "few-step");
        var (reconstructions, prior, random) = SeedRows(run, instrument, generator.Vae!);
        run.Logger.LogInformation("FID floor {V:F4}, diffusion {D:F4} +- {Ds:F4}, unconditional model {U:F4}, VAE reconstruction {Rec:F4}, VAE {A:F2}, "
            + "random {R:F2}", instrument.Floor.Fid.Mean, conditional.Fid.Mean, conditional.Fid.Std, unconditionalRow.Fid.Mean, reconstructions.Fid.Mean,
            prior.Fid.Mean, random.Fid.Mean);
        return new Rows(conditional, unconditionalRow, samplingSeconds, unconditionalSamplingSeconds, reconstructions, prior, random, fewStep, fewStepSeconds);
    }

    /// <summary>A class-conditional generator over the held-out request sets of the main row (the same labels and seeds), and its sampling time.</summary>
    private static (MeasuredRow Row, double Seconds) MeasureConditional(Run run, Instrument instrument, DigitGeneratorTransformer generator, string name)
    {
        var (ml, n, sets, classifier) = (run.Ml, run.N, run.Sets, instrument.Classifier);
        var runs = new List<GeneratorMetrics>();
        double seconds = 0;
        for (int k = 1; k <= sets; k++)
        {
            long first = HeldOutSeed(FirstReportedSet - 1 + k);
            var clock = Stopwatch.StartNew();
            var images = ImageSets.Generate(ml, generator, Enumerable.Range(0, n).Select(i => new GenerationRequest { Label = i % Classes, Seed = first + i }),
                $"{name} set {k} of {sets}", n, run.Stages, run.Token);
            seconds += clock.Elapsed.TotalSeconds;
            runs.Add(classifier.Evaluate(classifier.ComputeFeatures(ImageSets.LabeledView(ml, images, Classes), nameof(LabeledImageRow.Image),
                nameof(LabeledImageRow.Label)), instrument.Test));
            run.Logger.LogInformation("{Name} generator, held-out set {Set}: FID {Fid:F4}, accuracy {Accuracy:P2}", name, k, runs[^1].Fid,
                runs[^1].ConditionalAccuracy);
        }
        return (new MeasuredRow([.. runs], Enumerable.Range(FirstReportedSet, sets).Select(k => $"seeds {HeldOutSeed(k):N0} + i").ToArray()), seconds);
    }

    /// <summary>The seed's rows that no diffusion model makes: VAE reconstructions, VAE prior samples, noise with the data's moments.</summary>
    private (MeasuredRow Reconstructions, MeasuredRow Prior, MeasuredRow Random) SeedRows(Run run, Instrument instrument, VaeEncoderTransformer vae)
    {
        var (ml, n, sets, classifier, test) = (run.Ml, run.N, run.Sets, instrument.Classifier, instrument.Test);
        run.Stages?.Report(new StageProgress("scoring", 0, 0));
        int blocks = Math.Min(sets, instrument.Blocks.Length);
        GeneratorMetrics Score(float[] images) => classifier.Evaluate(classifier.ComputeFeatures(ImageSets.View(ml, images)), test);
        var reconstructions = new MeasuredRow(Enumerable.Range(0, blocks).Select(b => Score(ImageSets.Reconstruct(vae, instrument.Blocks[b]))).ToArray(),
            Enumerable.Range(0, blocks).Select(b => $"training images {b * n}..{(b + 1) * n - 1}").ToArray());
        var prior = new MeasuredRow(Enumerable.Range(1, sets).Select(k => Score(vae.SamplePrior(n, settings.Seed + k))).ToArray(),
            Enumerable.Range(1, sets).Select(k => $"seed {settings.Seed + k}").ToArray());
        var moments = ImageSets.PixelMoments(run.FullTrain);
        var random = new MeasuredRow(Enumerable.Range(1, sets).Select(k => Score(ImageSets.RandomImages(moments, n, settings.Seed + k))).ToArray(),
            Enumerable.Range(1, sets).Select(k => $"seed {settings.Seed + k}").ToArray());
        return (reconstructions, prior, random);
    }

    /// <summary>6. Pictures: the class-conditional and unconditional grids, the denoising progression, the loss curves.</summary>
    private void SavePictures(Instrument instrument, Conditional conditional, Unconditional unconditional)
    {
        var generator = conditional.Generator;
        var gridImages = generator.Generate(Enumerable.Range(0, 100).Select(i => i / 10).ToArray(), Enumerable.Range(0,
            100).Select(i => HeldOutSeed(1) + i).ToArray());
        Pictures.SaveGrid(Path.Combine(outputDirectory, "samples.png"), Enumerable.Range(0, 100).Select(i => gridImages[(i * 784)..((i + 1) * 784)]).ToList(),
            10, [1, 28, 28], rowTitles: Enumerable.Range(0, Classes).Select(d => $"digit {d}").ToArray());
        var freeGrid = unconditional.Generator.Generate(Enumerable.Repeat(-1, 100).ToArray(),
            Enumerable.Range(0, 100).Select(i => HeldOutSeed(1) + 500_000 + i).ToArray());
        Pictures.SaveGrid(Path.Combine(outputDirectory, "unconditional.png"), Enumerable.Range(0,
            100).Select(i => freeGrid[(i * 784)..((i + 1) * 784)]).ToList(),
            10, [1, 28, 28]);
        SaveProgression(generator, Path.Combine(outputDirectory, "progression.png"));
        Plots.SaveLossCurves(Path.Combine(outputDirectory, "loss.png"),
            [("classifier", instrument.Classifier.History), ("VAE", generator.Vae!.History), ("diffusion", generator.Diffusion.History),
             .. AutoguidanceCurve(generator.Diffusion), ("unconditional", unconditional.Diffusion.History)]);
    }

    private LatentDiffusionOptions DiffusionOptions(int width, int epochs, int autoguidanceEpochs, string? labelColumn, SamplingOptions sampling, Run run,
        string? checkpoints) => new()
    {
        LabelColumnName = labelColumn, Epochs = epochs, Width = width,
        // No autoguidance epochs: no autoguidance denoiser at all.
        AutoguidanceWidth = autoguidanceEpochs > 0 ? settings.AutoguidanceWidth : 0, AutoguidanceEpochs = Math.Max(1, autoguidanceEpochs),
        Schedule = settings.Schedule, Objective = settings.Objective, LossWeighting = LossWeighting.MinSnr, MinSnrGamma = settings.MinSnrGamma,
        Precision = settings.TrainingPrecision, Seed = settings.Seed, Device = run.Device, Sampling = sampling, Logger = run.Logger, Progress = run.Progress,
        CancellationToken = run.Token, CheckpointDirectory = checkpoints, ResumeFromCheckpoint = Resume && checkpoints is not null,
    };

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
        Pictures.SaveGrid(path, cells, titles.Count, generator.ImageShape, zoom: 3, columnTitles: titles,
            rowTitles: labels.Select(l => $"digit {l}").ToArray());
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
                FormattableString.Invariant($"the lowest FID: no setting reached the accuracy floor of {minimumAccuracy:P0} (best ")
                    + FormattableString.Invariant($"{tried.Max(t => t.Accuracy):P1})"));
        var chosen = accurate.MinBy(t => t.Fid);
        return (chosen.Choice, unconstrained.Choice, chosen.Choice == unconstrained.Choice
            ? FormattableString.Invariant($"the lowest FID, and its accuracy reaches {minimumAccuracy:P0}")
            : FormattableString.Invariant($"the lowest FID among the settings with accuracy >= {minimumAccuracy:P0}; without that floor ")
                + FormattableString.Invariant($"{unconstrained.Choice} would give FID {unconstrained.Fid:F3} ")
                + FormattableString.Invariant($"at {unconstrained.Accuracy:P1} (against {chosen.Fid:F3} at {chosen.Accuracy:P1})"));
    }
}
