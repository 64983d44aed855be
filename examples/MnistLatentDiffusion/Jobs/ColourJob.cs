using System.Diagnostics;
using System.Text.Json;
using System.Text.Json.Nodes;
using LatentDiffusion.Diffusion;
using LatentDiffusion.Diffusion.Samplers;
using LatentDiffusion.IO;
using LatentDiffusion.MLNet;
using LatentDiffusion.MLNet.Autoencoder;
using LatentDiffusion.MLNet.Denoising;
using LatentDiffusion.MLNet.Evaluation;
using LatentDiffusion.MLNet.Generation;
using LatentDiffusion.Models;
using Microsoft.Extensions.Logging;
using Microsoft.ML;
using Microsoft.ML.Data;
using Microsoft.ML.Transforms.Image;
using MnistLatentDiffusion.Reports;

namespace MnistLatentDiffusion.Jobs;

/// <summary>
/// Colour images of uneven size through the whole library and ML.NET's ImageAnalytics: coloured shapes written as
/// 22x30 PNGs, read back with LoadImages, ResizeImages and ExtractPixels, a VAE (sides padded to 24x32 inside, a 4x6x8
/// latent), a class-conditional diffusion model, a colour sample grid, and FID and accuracy against held-out shapes
/// (a classifier trained on the shapes), and FID under ImageNet-pretrained ResNet18 features.
/// </summary>
public sealed class ColourJob(string outputDirectory, int seed, ILogger logger)
{
    private const int Height = 22, Width = 30, Classes = 3, TrainImages = 3000, TestImages = 600;
    private static readonly string[] ColourNames = ["red", "green", "blue"];

    public JsonObject Run(CancellationToken token)
    {
        var total = Stopwatch.StartNew();
        string data = Path.Combine(outputDirectory, "shapes");
        Directory.CreateDirectory(data);
        var ml = new MLContext(seed);
        logger.LogInformation("Writing {Train} + {Test} coloured shapes of {Height}x{Width} to {Folder}", TrainImages, TestImages, Height, Width, data);
        var train = Load(ml, Path.Combine(data, "train"), TrainImages, seed);
        var test = Load(ml, Path.Combine(data, "test"), TestImages, seed + 1);
        token.ThrowIfCancellationRequested();
        var model = Train(ml, train, token);
        var classifier = ml.Transforms.FidEvaluator(new FidEvaluatorOptions
        {
            // The instrument its published figures were measured with: seed 000's small network, no augmentation.
            Classifier = FidClassifierKind.Small, Augmentation = false,
            ImageShape = [3, Height, Width], Classes = Classes, Epochs = 5, Seed = seed, Logger = logger, CancellationToken = token,
        }).Fit(train);
        SavePictures(model, train);
        var requests = ml.Data.LoadFromEnumerable(Enumerable.Range(0, TestImages)
            .Select(i => new GenerationRequest { Label = i % Classes, Seed = 8_000_000 + i }));
        var metrics = classifier.Evaluate(model.Transform(requests), test, generatedImageColumn: model.OutputColumnName, requestedLabelColumn: "Label");
        var floor = classifier.Evaluate(test, ml.Data.TakeRows(train, TestImages));
        logger.LogInformation("Colour shapes: FID {Fid:F2} (held-out shapes against training shapes: {Floor:F2}), accuracy {Accuracy:P1}", metrics.Fid,
            floor.Fid, metrics.ConditionalAccuracy);
        var report = new JsonObject
        {
            ["imageShape"] = new JsonArray(3, Height, Width), ["latentShape"] = new JsonArray([.. model.Vae!.LatentShape.Select(d => (JsonNode)d)]),
            ["trainImages"] = TrainImages, ["testImages"] = TestImages,
            ["classifierTestAccuracy"] = classifier.ComputeFeatures(test, labelColumn: "Label").Accuracy,
            ["fid"] = metrics.Fid, ["fidHeldOutShapes"] = floor.Fid, ["conditionalAccuracy"] = metrics.ConditionalAccuracy,
        };
        foreach (var (key, value) in Pretrained(ml, model, requests, train, test)) report[key] = value;
        report["totalSeconds"] = total.Elapsed.TotalSeconds;
        AtomicFile.WriteAllText(Path.Combine(outputDirectory, "report.json"), report.ToJsonString(new JsonSerializerOptions { WriteIndented = true }));
        return report;
    }

    /// <summary>Shapes written as PNGs into <paramref name="folder"/>, read back through LoadImages, ResizeImages and ExtractPixels.</summary>
    private static IDataView Load(MLContext ml, string folder, int count, int dataSeed)
    {
        Directory.CreateDirectory(folder);
        var files = ColourShapes.Write(folder, count, Height, Width, dataSeed).Select(f => new ShapeFile { Path = f.Path, Label = f.Label });
        var rows = ml.Data.LoadFromEnumerable(files);
        var images = ml.Transforms.LoadImages("Picture", null, nameof(ShapeFile.Path))
            .Append(ml.Transforms.ResizeImages("Picture", Width, Height))
            .Append(ml.Transforms.ExtractPixels("Image", "Picture", ImagePixelExtractingEstimator.ColorBits.Rgb, scaleImage: 1f / 255))
            .Fit(rows).Transform(rows);
        return ml.Data.Cache(images, "Image", nameof(ShapeFile.Label));
    }

    /// <summary>The VAE (sides padded inside) and the class-conditional diffusion model, fitted as one generator and saved.</summary>
    private DigitGeneratorTransformer Train(MLContext ml, IDataView train, CancellationToken token)
    {
        var sampling = new SamplingOptions { Sampler = new DdimSampler { Steps = 50 }, GuidanceScale = 1.5 };
        var vae = ml.Transforms.EncodeToLatent(new VaeEncoderOptions
        {
            ImageShape = [3, Height, Width], Downsampling = 4, Width = 32, Epochs = 15, BatchSize = 64, Seed = seed, Logger = logger, CancellationToken = token,
        });
        var diffusion = ml.Transforms.TrainLatentDiffusion(new LatentDiffusionOptions
        {
            Classes = Classes, Width = 32, Epochs = 40, BatchSize = 64, Schedule = NoiseScheduleKind.Cosine, Objective = DiffusionObjective.Velocity,
            LossWeighting = LossWeighting.MinSnr, Seed = seed, Sampling = sampling, Logger = logger, CancellationToken = token,
        });
        var model = ml.Transforms.GenerateDigits(diffusion, vae, new DigitGeneratorOptions { Sampling = sampling, Seed = seed }).Fit(train);
        AtomicFile.Write(Path.Combine(outputDirectory, "model.zip"), s => ml.Model.Save(model, train.Schema, s));
        return model;
    }

    /// <summary>The sample grid (one row per colour, ten samples each) and, beside it, training images for comparison.</summary>
    private void SavePictures(DigitGeneratorTransformer generator, IDataView train)
    {
        var labels = Enumerable.Range(0, 30).Select(i => i / 10).ToArray();
        var images = generator.Generate(labels, labels.Select((_, i) => 7_000_000L + i).ToArray());
        int size = 3 * Height * Width;
        var rowTitles = ColourNames.Select(c => $"asked {c}").ToArray();
        Pictures.SaveGrid(Path.Combine(outputDirectory, "samples.png"), Enumerable.Range(0, 30).Select(i => images[(i * size)..((i + 1) * size)]).ToList(),
            10, [3, Height, Width], zoom: 3, rowTitles: rowTitles);
        var examples = train.GetColumn<float[]>("Image").Zip(train.GetColumn<int>(nameof(ShapeFile.Label))).ToArray();
        var byClass = Enumerable.Range(0, Classes).SelectMany(c => examples.Where(e => e.Second == c).Take(10).Select(e => e.First)).ToList();
        Pictures.SaveGrid(Path.Combine(outputDirectory, "data.png"), byClass, 10, [3, Height, Width], zoom: 3, rowTitles: ColourNames);
    }

    /// <summary>
    /// The same rows under the ImageNet-pretrained instrument (ResNet18 features; nothing trained, no classes): another
    /// scale, so its values compare with its own floor only.
    /// </summary>
    private IEnumerable<(string Key, JsonNode? Value)> Pretrained(MLContext ml, DigitGeneratorTransformer generator, IDataView requests, IDataView train,
        IDataView test)
    {
        var clock = Stopwatch.StartNew();
        var pretrainedOptions = new FidEvaluatorOptions { Classifier = FidClassifierKind.PretrainedResNet18, ImageShape = [3, Height, Width] };
        var pretrained = ml.Transforms.FidEvaluator(pretrainedOptions).Fit(train);
        var metrics = pretrained.Evaluate(generator.Transform(requests), test, generatedImageColumn: generator.OutputColumnName);
        var floor = pretrained.Evaluate(test, ml.Data.TakeRows(train, TestImages));
        double seconds = clock.Elapsed.TotalSeconds;
        logger.LogInformation("Pretrained ResNet18 features: FID {Fid:F2} (held-out shapes against training shapes: {Floor:F2}); {Seconds:F0} s for "
            + "{Images} images", metrics.Fid, floor.Fid, seconds, 3 * TestImages);
        return [("pretrainedFid", metrics.Fid), ("pretrainedFidHeldOutShapes", floor.Fid), ("pretrainedKid", metrics.KidMean), ("pretrainedSeconds", seconds),
            ("pretrainedInstrument", pretrained.InstrumentId)];
    }
}
