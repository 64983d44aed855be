using System.Diagnostics;
using System.Text.Json;
using System.Text.Json.Nodes;
using LatentDiffusion.Data;
using LatentDiffusion.Diffusion;
using LatentDiffusion.IO;
using LatentDiffusion.MLNet;
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

    public async Task<JsonObject> RunAsync(ILogger logger, IProgress<TrainingProgress>? progress = null, IProgress<StageProgress>? stages = null,
        CancellationToken cancellationToken = default)
    {
        await Task.Yield();
        var total = Stopwatch.StartNew();
        Directory.CreateDirectory(outputDirectory);
        var ml = new MLContext(settings.Seed);
        var device = DeviceSelector.Parse(settings.Device);
        var train = ml.Data.LoadMnist(MnistSplit.Train);
        var test = ml.Data.LoadMnist(MnistSplit.Test);
        if (settings.TrainRows > 0) train = ml.Data.TakeRows(train, settings.TrainRows);
        int n = settings.Samples;

        // 1. The FID instrument.
        var clock = Stopwatch.StartNew();
        var classifier = ml.Transforms.FidEvaluator(new FidEvaluatorOptions
        {
            Epochs = settings.ClassifierEpochs, Seed = settings.Seed, Device = device, Logger = logger, Progress = progress, CancellationToken = cancellationToken, CheckpointDirectory = CheckpointDirectory, ResumeFromCheckpoint = Resume,
        }).Fit(train);
        double classifierSeconds = clock.Elapsed.TotalSeconds;
        var allTestFeatures = classifier.ComputeFeatures(test, labelColumn: "Label");
        double testAccuracy = allTestFeatures.Accuracy!.Value;
        var testFeatures = n >= allTestFeatures.Count ? allTestFeatures : classifier.ComputeFeatures(ml.Data.TakeRows(test, n), labelColumn: "Label");
        logger.LogInformation("Classifier: test accuracy {Accuracy:P2} ({Seconds:F0} s)", testAccuracy, classifierSeconds);
        AtomicFile.Write(Path.Combine(outputDirectory, "classifier.zip"), s => ml.Model.Save(classifier, train.Schema, s));

        // 2. VAE -> latent diffusion -> generator, as one .Append chain fitted on the training split.
        var sampling = new SamplingOptions
        {
            Sampler = SamplerKind.Ddim, Steps = settings.SamplingSteps,
            GuidanceScale = settings.GuidanceScale, GuidanceMinNoise = settings.GuidanceMinNoise, GuidanceMaxNoise = settings.GuidanceMaxNoise,
            Precision = settings.SamplingPrecision, AutoguidanceScale = settings.AutoguidanceScale,
            AutoguidanceMinNoise = settings.AutoguidanceMinNoise, AutoguidanceMaxNoise = settings.AutoguidanceMaxNoise,
        };
        var vaeEstimator = ml.Transforms.EncodeToLatent(new VaeEncoderOptions
        {
            Epochs = settings.VaeEpochs, Precision = settings.TrainingPrecision, Seed = settings.Seed, Device = device, Logger = logger, Progress = progress, CancellationToken = cancellationToken, CheckpointDirectory = CheckpointDirectory, ResumeFromCheckpoint = Resume,
        });
        var diffusionTrainer = ml.Transforms.TrainLatentDiffusion(new LatentDiffusionOptions
        {
            Epochs = settings.DiffusionEpochs, Width = settings.DiffusionWidth, AutoguidanceWidth = settings.AutoguidanceWidth, AutoguidanceEpochs = settings.AutoguidanceEpochs, Schedule = settings.Schedule, Objective = settings.Objective, LossWeighting = LossWeighting.MinSnr, MinSnrGamma = settings.MinSnrGamma,
            Precision = settings.TrainingPrecision, Seed = settings.Seed, Device = device, Sampling = sampling,
            Logger = logger, Progress = progress, CancellationToken = cancellationToken, CheckpointDirectory = CheckpointDirectory, ResumeFromCheckpoint = Resume,
        });
        var pipeline = vaeEstimator
            .Append(diffusionTrainer)
            .Append(ml.Transforms.GenerateDigits(diffusionTrainer, vaeEstimator, new DigitGeneratorOptions { Sampling = sampling, Seed = settings.Seed }));
        clock.Restart();
        var model = pipeline.Fit(train);
        double chainSeconds = clock.Elapsed.TotalSeconds;
        var vae = model.OfType<VaeEncoderTransformer>().Single();
        var diffusion = model.OfType<LatentDiffusionTransformer>().Single();
        var generator = model.LastTransformer;
        AtomicFile.Write(Path.Combine(outputDirectory, "model.zip"), s => ml.Model.Save(model, train.Schema, s));
        double reconstructionMse = vae.ReconstructionMse(test);
        logger.LogInformation("VAE: test reconstruction MSE {Mse:F5}", reconstructionMse);

        // 3. 10k class-balanced conditional samples through the generator's IDataView path.
        var requests = ml.Data.LoadFromEnumerable(Enumerable.Range(0, n).Select(i => new GenerationRequest { Label = i % Classes, Seed = 1_000_000 + i }));
        // Generation alone is timed (the images are kept in memory: 10k x 784 floats), then the classifier scores them.
        clock.Restart();
        var generatedImages = WithProgress(generator.Transform(requests).GetColumn<float[]>("GeneratedImage"), "generating 10,000 digits", n, stages, cancellationToken).ToArray();
        double samplingSeconds = clock.Elapsed.TotalSeconds;
        double imagesPerSecond = n / samplingSeconds;
        var generated = ml.Data.LoadFromEnumerable(generatedImages.Select((image, i) => new LabeledImageRow { Label = i % Classes, Image = image }));
        stages?.Report(new StageProgress("scoring", 0, 0));
        var generatedFeatures = classifier.ComputeFeatures(generated, nameof(LabeledImageRow.Image), nameof(LabeledImageRow.Label));
        var diffusionMetrics = classifier.Evaluate(generatedFeatures, testFeatures);
        logger.LogInformation("Diffusion: FID {Fid:F3}, accuracy {Accuracy:P2}, {Rate:F0} images/s", diffusionMetrics.Fid, diffusionMetrics.ConditionalAccuracy, imagesPerSecond);

        // Unconditional samples (guidance 0 = the null-label path): do all ten digits come out?
        var unconditionalSampling = generator.Sampling.Clone();
        unconditionalSampling.GuidanceScale = 0;
        var unconditional = generator.WithSampling(unconditionalSampling);
        var unconditionalRequests = ml.Data.LoadFromEnumerable(Enumerable.Range(0, n).Select(i => new GenerationRequest { Label = -1, Seed = 2_000_000 + i }));
        var unconditionalImages = WithProgress(unconditional.Transform(unconditionalRequests).GetColumn<float[]>("GeneratedImage"), "generating unconditional digits", n, stages, cancellationToken).ToArray();
        var unconditionalMetrics = classifier.Evaluate(classifier.ComputeFeatures(ImageView(ml, unconditionalImages.SelectMany(v => v).ToArray())), testFeatures);
        logger.LogInformation("Unconditional: FID {Fid:F3}, label entropy {Entropy:F3} (ln 10 = 2.303)", unconditionalMetrics.Fid, unconditionalMetrics.LabelEntropy);

        // 4. The seed's other rows: validation, random, VAE prior samples.
        var trainSample = ml.Data.TakeRows(ml.Data.LoadMnist(MnistSplit.Train), n);
        var trainFeatures = classifier.ComputeFeatures(trainSample);
        var validationMetrics = classifier.Evaluate(testFeatures, trainFeatures);
        var randomImages = RandomImages(ml.Data.LoadMnist(MnistSplit.Train), n, settings.Seed);
        var randomMetrics = classifier.Evaluate(classifier.ComputeFeatures(ImageView(ml, randomImages)), testFeatures);
        var vaeMetrics = classifier.Evaluate(classifier.ComputeFeatures(ImageView(ml, vae.SamplePrior(n, settings.Seed))), testFeatures);
        // decode(encode(x)) of the same training images: the floor a latent diffusion model on this VAE can reach.
        var reconstructionMetrics = classifier.Evaluate(classifier.ComputeFeatures(ImageView(ml, Reconstruct(vae, trainSample))), testFeatures);
        logger.LogInformation("FID validation {V:F3}, random {R:F2}, VAE {A:F2}, VAE reconstruction {Rec:F3}", validationMetrics.Fid, randomMetrics.Fid, vaeMetrics.Fid, reconstructionMetrics.Fid);

        stages?.Report(new StageProgress("scoring", 1, 0));
        cancellationToken.ThrowIfCancellationRequested();
        // 5. Pictures.
        var grid = new List<float[]>();
        var gridImages = generator.Generate(Enumerable.Range(0, 100).Select(i => i / 10).ToArray(), Enumerable.Range(0, 100).Select(i => 1_000_000L + i).ToArray());
        for (int i = 0; i < 100; i++) grid.Add(gridImages[(i * 784)..((i + 1) * 784)]);
        Pictures.SaveGrid(Path.Combine(outputDirectory, "samples.png"), grid, 10, [1, 28, 28],
            rowTitles: Enumerable.Range(0, Classes).Select(d => $"digit {d}").ToArray());
        SaveProgression(generator, Path.Combine(outputDirectory, "progression.png"));
        Plots.SaveLossCurves(Path.Combine(outputDirectory, "loss.png"),
            [("classifier", classifier.History), ("VAE", vae.History), ("diffusion", diffusion.History), .. AutoguidanceCurve(diffusion)]);

        var report = new JsonObject
        {
            ["preset"] = settings.Preset,
            ["seed"] = settings.Seed,
            ["device"] = settings.Device,
            ["samples"] = n,
            ["trainRows"] = settings.TrainRows > 0 ? settings.TrainRows : 60000,
            ["sampler"] = new JsonObject
            {
                ["name"] = "ddim", ["steps"] = settings.SamplingSteps, ["guidanceScale"] = settings.GuidanceScale,
                ["guidanceMinNoise"] = settings.GuidanceMinNoise, ["guidanceMaxNoise"] = settings.GuidanceMaxNoise, ["autoguidanceScale"] = settings.AutoguidanceScale,
                ["autoguidanceMinNoise"] = settings.AutoguidanceMinNoise, ["autoguidanceMaxNoise"] = settings.AutoguidanceMaxNoise,
                ["precision"] = settings.SamplingPrecision.ToString(),
                ["denoiserPassesPerImage"] = generator.DenoiserPassesPerSample, ["autoguidancePassesPerImage"] = generator.AutoguidancePassesPerSample,
            },
            ["classifier"] = new JsonObject { ["testAccuracy"] = testAccuracy, ["epochs"] = settings.ClassifierEpochs },
            ["trainingPrecision"] = settings.TrainingPrecision.ToString(),
            ["vae"] = new JsonObject { ["reconstructionMse"] = reconstructionMse, ["epochs"] = settings.VaeEpochs },
            ["diffusionModel"] = new JsonObject
            {
                ["epochs"] = settings.DiffusionEpochs, ["width"] = settings.DiffusionWidth, ["schedule"] = settings.Schedule.ToString(),
                ["objective"] = settings.Objective.ToString(), ["minSnrGamma"] = settings.MinSnrGamma,
                ["autoguidanceWidth"] = settings.AutoguidanceWidth, ["autoguidanceEpochs"] = settings.AutoguidanceWidth > 0 ? settings.AutoguidanceEpochs : 0,
            },
            ["fid"] = new JsonObject
            {
                ["validation"] = validationMetrics.Fid, ["random"] = randomMetrics.Fid, ["vae"] = vaeMetrics.Fid, ["vaeReconstruction"] = reconstructionMetrics.Fid,
                ["diffusion"] = diffusionMetrics.Fid, ["diffusionUnconditional"] = unconditionalMetrics.Fid,
            },
            ["kid"] = new JsonObject { ["diffusion"] = diffusionMetrics.KidMean, ["diffusionStd"] = diffusionMetrics.KidStd, ["vae"] = vaeMetrics.KidMean, ["random"] = randomMetrics.KidMean },
            ["precisionRecall"] = new JsonObject { ["precision"] = diffusionMetrics.Precision, ["recall"] = diffusionMetrics.Recall },
            ["conditional"] = new JsonObject { ["accuracy"] = diffusionMetrics.ConditionalAccuracy },
            ["unconditional"] = new JsonObject { ["labelEntropy"] = unconditionalMetrics.LabelEntropy, ["maxEntropy"] = Math.Log(Classes) },
            ["timings"] = new JsonObject
            {
                ["classifierSeconds"] = classifierSeconds, ["vaeSeconds"] = vae.History.TotalSeconds, ["diffusionSeconds"] = diffusion.History.TotalSeconds,
                ["autoguidanceSeconds"] = diffusion.AutoguidanceHistory.TotalSeconds,
                ["chainFitSeconds"] = chainSeconds, ["samplingSeconds"] = samplingSeconds, ["totalSeconds"] = total.Elapsed.TotalSeconds,
            },
            ["throughput"] = new JsonObject
            {
                ["generationImagesPerSecond"] = imagesPerSecond, ["diffusionTrainSamplesPerSecond"] = diffusion.History.SamplesPerSecond,
                ["vaeTrainSamplesPerSecond"] = vae.History.SamplesPerSecond, ["classifierTrainSamplesPerSecond"] = classifier.History.SamplesPerSecond,
            },
            ["peakWorkingSetMegabytes"] = Process.GetCurrentProcess().PeakWorkingSet64 / 1048576.0,
        };
        Report.Write(outputDirectory, report);
        return report;
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

    /// <summary>Gaussian noise with the training set's per-pixel mean and standard deviation (the seed's "Random" row).</summary>
    private static float[] RandomImages(IDataView train, int count, int seed)
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
        var random = new Random(seed);
        var result = new float[count * 784];
        for (int i = 0; i < 784; i++)
        {
            mean[i] /= rows;
            sq[i] = Math.Sqrt(Math.Max(sq[i] / rows - mean[i] * mean[i], 0));
        }
        for (int r = 0; r < count; r++)
            for (int i = 0; i < 784; i++)
                result[r * 784 + i] = (float)(mean[i] + sq[i] * random.NextGaussian());
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
