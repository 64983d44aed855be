using System.Diagnostics;
using System.Text.Json;
using System.Text.Json.Nodes;
using LatentDiffusion.Data;
using LatentDiffusion.Diffusion;
using LatentDiffusion.Diffusion.Samplers;
using LatentDiffusion.IO;
using LatentDiffusion.MLNet;
using LatentDiffusion.MLNet.Autoencoder;
using LatentDiffusion.MLNet.Denoising;
using LatentDiffusion.MLNet.Evaluation;
using LatentDiffusion.MLNet.Generation;
using LatentDiffusion.Models;
using LatentDiffusion.Training;
using Microsoft.Extensions.Logging;
using Microsoft.ML;
using Microsoft.ML.Data;
using MnistLatentDiffusion.Jobs;
using MnistLatentDiffusion.Reports;
using OxyPlot;
using OxyPlot.Axes;
using OxyPlot.Legends;
using OxyPlot.Series;

namespace MnistLatentDiffusion.Benchmarks;

/// <summary>
/// The latent diffusion paper's central claim, measured here: the latent path (VAE, then a UNet on 4x7x7 latents) and
/// the pixel path (a UNet on the 28x28 images) trained under the same wall-clock budgets, then sampled with the same
/// settings and scored with the same instrument.
/// </summary>
public sealed class PathsBenchmark(IReadOnlyList<double> budgetMinutes, int samples, int seed, string outputDirectory, ILogger logger)
{
    /// <summary>Share of the latent path's budget that trains the VAE (the default preset spends about 17% of its training on it).</summary>
    public const double VaeShare = 0.2;

    private static SamplingOptions Sampling => new()
    {
        Sampler = new DdimSampler { Steps = 50 }, GuidanceScale = 2.25, GuidanceMinNoise = 0.5, GuidanceMaxNoise = 0.7, Precision = SamplingPrecision.BFloat16,
    };

    private LatentDiffusionOptions Diffusion(string input, int width, int levels, TimeSpan budget, CancellationToken token) => new()
    {
        InputColumnName = input, Width = width, Levels = levels, Epochs = 1000, MaxTrainingTime = budget,
        Schedule = NoiseScheduleKind.Cosine, Objective = DiffusionObjective.Velocity, LossWeighting = LossWeighting.MinSnr, MinSnrGamma = 5,
        Precision = TrainingPrecision.BFloat16, Seed = seed, Sampling = Sampling, Logger = logger, CancellationToken = token,
    };

    public JsonObject Run(CancellationToken token)
    {
        Directory.CreateDirectory(outputDirectory);
        var total = Stopwatch.StartNew();
        var ml = new MLContext(seed);
        var train = ml.Data.LoadMnist(MnistSplit.Train);
        var test = ml.Data.LoadMnist(MnistSplit.Test);
        logger.LogInformation("Training the FID classifier (outside the budgets)");
        // The instrument its published figures were measured with: seed 000's small network, 3 epochs, no augmentation.
        var classifier = ml.Transforms.FidEvaluator(new FidEvaluatorOptions
        {
            Classifier = FidClassifierKind.Small, Epochs = 3, Augmentation = false, Seed = seed, Logger = logger, CancellationToken = token,
        }).Fit(train);
        var reference = classifier.ComputeFeatures(ml.Data.TakeRows(test, samples));
        double floor = classifier.Evaluate(reference, classifier.ComputeFeatures(ml.Data.TakeRows(train, samples))).Fid;
        logger.LogInformation("Validation floor at {Samples} vs {Samples} images: FID {Floor:F3}", samples, samples, floor);
        var requests = ml.Data.LoadFromEnumerable(Enumerable.Range(0, samples).Select(i => new GenerationRequest { Label = i % 10, Seed = 5_000_000 + i }));

        var runs = new JsonArray();
        foreach (double minutes in budgetMinutes)
        {
            var budget = TimeSpan.FromMinutes(minutes);
            // Latent: the VAE takes its share of the budget, the UNet the rest.
            var clock = Stopwatch.StartNew();
            var vae = ml.Transforms.EncodeToLatent(new VaeEncoderOptions
            {
                Epochs = 1000, MaxTrainingTime = budget * VaeShare, Precision = TrainingPrecision.BFloat16, Seed = seed, Logger = logger,
                    CancellationToken = token,
            });
            var latent = ml.Transforms.TrainLatentDiffusion(Diffusion("Latent", 48, 2, budget * (1 - VaeShare), token));
            var latentModel = ml.Transforms.GenerateDigits(latent, vae, new DigitGeneratorOptions { Sampling = Sampling }).Fit(train);
            double latentSeconds = clock.Elapsed.TotalSeconds;
            runs.Add(Score("latent", minutes, latentSeconds, latentModel.Diffusion, latentModel, ml, classifier, reference, requests, floor,
                latentModel.Vae!.History));

            // Pixels: the UNet takes the whole budget.
            clock.Restart();
            var pixel = ml.Transforms.TrainLatentDiffusion(Diffusion("Image", 32, 3, budget, token));
            var pixelModel = ml.Transforms.GenerateDigits(pixel, new DigitGeneratorOptions { Sampling = Sampling }).Fit(train);
            double pixelSeconds = clock.Elapsed.TotalSeconds;
            runs.Add(Score("pixel", minutes, pixelSeconds, pixelModel.Diffusion, pixelModel, ml, classifier, reference, requests, floor, null));
            Save(runs, floor, total.Elapsed.TotalSeconds);
        }
        return Save(runs, floor, total.Elapsed.TotalSeconds);
    }

    private JsonObject Score(string path, double minutes, double trainSeconds, LatentDiffusionTransformer diffusion, DigitGeneratorTransformer generator,
        MLContext ml, FidEvaluatorTransformer classifier, FeatureSet reference, IDataView requests, double floor, TrainingHistory? vae)
    {
        var clock = Stopwatch.StartNew();
        var images = generator.Transform(requests).GetColumn<float[]>(generator.OutputColumnName).ToArray();
        double sampling = clock.Elapsed.TotalSeconds;
        var view = ml.Data.LoadFromEnumerable(images.Select((image, i) => new LabeledImageRow { Label = i % 10, Image = image }));
        var metrics = classifier.Evaluate(classifier.ComputeFeatures(view, nameof(LabeledImageRow.Image), nameof(LabeledImageRow.Label)), reference);
        var unet = diffusion.History;
        double epochs = unet.Epochs.Sum(e => e.SamplesPerSecond * e.Seconds) / 60_000 / (1 - 0.02);
        logger.LogInformation("{Path}, {Minutes} min: FID {Fid:F2} ({Ratio:F2}x the floor), accuracy {Accuracy:P1}; UNet {Rate:F0} samples/s, {Epochs:F1} "
            + "epochs; {Images:F1} images/s",
            path, minutes, metrics.Fid, metrics.Fid / floor, metrics.ConditionalAccuracy, unet.SamplesPerSecond, epochs, images.Length / sampling);
        return new JsonObject
        {
            ["path"] = path, ["budgetMinutes"] = minutes, ["trainingSeconds"] = trainSeconds,
            ["vaeSeconds"] = vae?.TotalSeconds, ["vaeEpochs"] = vae?.Epochs.Count,
            ["unetSeconds"] = unet.TotalSeconds, ["unetEpochs"] = epochs, ["unetTrainSamplesPerSecond"] = unet.SamplesPerSecond,
            ["unetWidth"] = diffusion.Config.Denoiser.Width, ["unetLevels"] = diffusion.Config.Denoiser.Levels, ["dataShape"] = string.Join("x",
                diffusion.DataShape),
            ["samplingImagesPerSecond"] = images.Length / sampling,
            ["fid"] = metrics.Fid, ["fidOverFloor"] = metrics.Fid / floor, ["conditionalAccuracy"] = metrics.ConditionalAccuracy,
        };
    }

    /// <summary>The sampler as the report has always recorded it (lower-case name, flat guidance settings).</summary>
    private static JsonObject SamplerJson(SamplingOptions sampling) => new()
    {
        ["name"] = SamplerRegistry.NameOf(sampling.Sampler.GetType()).ToLowerInvariant(), ["steps"] = sampling.Sampler.Steps,
        ["guidanceScale"] = sampling.GuidanceScale, ["guidanceMinNoise"] = sampling.GuidanceMinNoise, ["guidanceMaxNoise"] = sampling.GuidanceMaxNoise,
        ["precision"] = sampling.Precision.ToString(),
    };

    private JsonObject Save(JsonArray runs, double floor, double seconds)
    {
        var report = new JsonObject
        {
            ["samples"] = samples, ["seed"] = seed, ["requestSeeds"] = "5,000,000 + i, label i mod 10", ["validationFloor"] = floor, ["vaeShare"] = VaeShare,
            ["sampler"] = SamplerJson(Sampling),
            ["runs"] = runs.DeepClone(), ["totalSeconds"] = seconds,
        };
        AtomicFile.WriteAllText(Path.Combine(outputDirectory, "report.json"), report.ToJsonString(new JsonSerializerOptions { WriteIndented = true }));
        Plot(runs);
        return report;
    }

    private void Plot(JsonArray runs)
    {
        var model = new PlotModel { Title = "FID (relative to the validation floor) against training time", TitleFontSize = 13, Background = OxyColors.White };
        model.Axes.Add(new LinearAxis { Position = AxisPosition.Bottom, Title = "training budget (minutes, 2-core CPU)", Minimum = 0,
            MajorGridlineStyle = LineStyle.Dot });
        model.Axes.Add(new LogarithmicAxis { Position = AxisPosition.Left, Title = "FID / validation floor (log scale)", MajorGridlineStyle = LineStyle.Dot });
        foreach (var (path, color) in new[] { ("latent", Plots.Classes[0]), ("pixel", Plots.Classes[1]) })
        {
            var line = new LineSeries { Title = path == "latent" ? "latent (VAE + UNet on 4x7x7)" : "pixel (UNet on 28x28)", Color = color,
                MarkerType = MarkerType.Circle, MarkerSize = 4 };
            foreach (var run in runs.Select(r => r!.AsObject()).Where(r => r["path"]!.GetValue<string>() == path))
                line.Points.Add(new DataPoint(run["budgetMinutes"]!.GetValue<double>(), run["fidOverFloor"]!.GetValue<double>()));
            model.Series.Add(line);
        }
        model.Legends.Add(new Legend { LegendPosition = LegendPosition.TopRight });
        Plots.SaveModel(Path.Combine(outputDirectory, "fid-vs-time.png"), model, 640, 420);
    }
}
