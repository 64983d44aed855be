using System.Diagnostics;
using System.Text;
using System.Text.Json.Nodes;
using LatentDiffusion.Data;
using LatentDiffusion.IO;
using LatentDiffusion.MLNet.Autoencoder;
using LatentDiffusion.MLNet.Evaluation;
using LatentDiffusion.Models;
using LatentDiffusion.Training;
using Microsoft.Extensions.Logging;
using Microsoft.ML;
using Microsoft.ML.Data;
using MnistLatentDiffusion.Jobs;
using MnistLatentDiffusion.Reports;

namespace MnistLatentDiffusion.Benchmarks;

/// <summary>
/// Autoencoder variants side by side (issue 26): each is trained on the whole training split from the same seed, then
/// scored the way the main job scores its VAE: reconstructions of disjoint training blocks against the test split on a
/// run's FID classifier, over the floor of the same blocks; test MSE; the latent channels' spread; training time.
/// </summary>
public sealed class VaeVariants(MLContext ml, FidEvaluatorTransformer classifier, string directory, ILogger logger)
{
    /// <summary>The variants by name: what each changes from the default options.</summary>
    public static readonly IReadOnlyDictionary<string, Action<VaeEncoderOptions>> Known = new Dictionary<string,
        Action<VaeEncoderOptions>>(StringComparer.OrdinalIgnoreCase)
    {
        ["plain"] = _ => { },
        ["residual"] = o => o.Architecture = VaeArchitecture.Residual,
        ["residual-attention"] = o => Residual(o, attention: true),
        ["residual-w48"] = o => { Residual(o); o.Width = 48; },
        ["residual-kl0.01"] = o => { Residual(o); o.KlWeight = 0.01; },
        ["residual-attention-vq256"] = o => Vq(o, 256),
        ["residual-attention-vq1024"] = o => Vq(o, 1024),
        ["residual-attention-vq256-adversarial0.5"] = o => { Vq(o, 256); o.AdversarialWeight = 0.5; },
        ["residual-attention-vq256-adversarial0.1"] = o => { Vq(o, 256); o.AdversarialWeight = 0.1; },
        ["residual-attention-perceptual0.25"] = o => Perceptual(o, 0.25),
        ["residual-attention-perceptual30"] = o => Perceptual(o, 30),
    };

    private const int Blocks = 3;

    private static void Residual(VaeEncoderOptions o, bool attention = false)
    {
        o.Architecture = VaeArchitecture.Residual;
        o.Attention = attention;
    }

    private static void Vq(VaeEncoderOptions o, int codebookSize)
    {
        Residual(o, attention: true);
        o.Regularization = VaeRegularization.Vq;
        o.CodebookSize = codebookSize;
    }

    private static void Perceptual(VaeEncoderOptions o, double weight)
    {
        Residual(o, attention: true);
        o.PerceptualWeight = weight;
        o.PerceptualLabelColumnName = "Label";
    }

    public JsonObject Run(IReadOnlyList<string> names, int epochs, int count, int seed, CancellationToken token)
    {
        var total = Stopwatch.StartNew();
        var train = ml.Data.LoadMnist(MnistSplit.Train);
        var test = ml.Data.LoadMnist(MnistSplit.Test);
        var reference = classifier.ComputeFeatures(test, labelColumn: "Label");
        var blocks = Enumerable.Range(0, Blocks).Select(b => ml.Data.TakeRows(b == 0 ? train : ml.Data.SkipRows(train, b * count), count)).ToArray();
        var floor = blocks.Select(b => classifier.Evaluate(classifier.ComputeFeatures(b), reference).Fid).ToArray();
        var (floorMean, floorStd) = Stat(floor);
        logger.LogInformation("Floor over {Blocks} training blocks of {Count}: {Mean:F4} +- {Std:F4}", Blocks, count, floorMean, floorStd);
        var testImages = ml.Data.TakeRows(test, 12).GetColumn<float[]>("Image").ToArray();

        var rows = new JsonArray();
        var pictureRows = new List<float[]>(testImages);
        var rowTitles = new List<string> { "test digits" };
        foreach (string name in names)
        {
            var options = new VaeEncoderOptions { Epochs = epochs, Seed = seed, Precision = TrainingPrecision.BFloat16, Logger = logger,
                CancellationToken = token };
            Known[name](options);
            var clock = Stopwatch.StartNew();
            var vae = ml.Transforms.EncodeToLatent(options).Fit(train);
            double seconds = clock.Elapsed.TotalSeconds;
            var fid = blocks.Select(b => classifier.Evaluate(classifier.ComputeFeatures(ImageSets.View(ml, Reconstruct(vae, b))), reference).Fid).ToArray();
            var (mean, std) = Stat(fid);
            double mse = vae.ReconstructionMse(test);
            logger.LogInformation("{Name}: reconstruction FID {Mean:F4} +- {Std:F4} ({Ratio:F2}x the floor), test MSE {Mse:F5}, {Seconds:F0} s{Codes}",
                name, mean, std, mean / floorMean, mse, seconds,
                vae.Config.CodebookSize > 0
                    ? $", {vae.Config.CodesUsed} of {vae.Config.CodebookSize} codes used, perplexity {vae.Config.CodebookPerplexity:F1}" : "");
            rows.Add(new JsonObject
            {
                ["name"] = name, ["architecture"] = vae.Config.Architecture.ToString(), ["attention"] = vae.Config.Attention, ["width"] = vae.Config.Width,
                ["klWeight"] = options.KlWeight, ["perceptualWeight"] = options.PerceptualWeight, ["adversarialWeight"] = options.AdversarialWeight,
                ["adversarialStart"] = options.AdversarialStart, ["epochs"] = epochs,
                ["reconstructionFid"] = new JsonArray(fid.Select(v => (JsonNode)v).ToArray()), ["reconstructionFidMean"] = mean, ["reconstructionFidStd"] = std,
                ["overFloor"] = mean / floorMean, ["testMse"] = mse,
                ["regularization"] = vae.Config.Regularization.ToString(), ["codebookSize"] = vae.Config.CodebookSize,
                ["codesUsed"] = vae.Config.CodesUsed, ["codebookPerplexity"] = vae.Config.CodebookPerplexity,
                ["latentChannelStds"] = new JsonArray(vae.Config.LatentScale.Select(v => (JsonNode)(double)v).ToArray()),
                ["trainingSeconds"] = vae.History.TotalSeconds, ["fitSeconds"] = seconds, ["samplesPerSecond"] = vae.History.SamplesPerSecond,
            });
            var flat = testImages.SelectMany(x => x).ToArray();
            var decoded = Reconstruct(vae, ImageSets.View(ml, flat));
            pictureRows.AddRange(Enumerable.Range(0, testImages.Length).Select(i => decoded[(i * 784)..((i + 1) * 784)]));
            rowTitles.Add(name);
            Pictures.SaveGrid(Path.Combine(directory, "reconstructions.png"), pictureRows, testImages.Length, [1, 28, 28], zoom: 3, rowTitles: rowTitles);
            var report = new JsonObject
            {
                ["floor"] = new JsonArray(floor.Select(v => (JsonNode)v).ToArray()), ["floorMean"] = floorMean, ["floorStd"] = floorStd,
                ["count"] = count, ["seed"] = seed,
                    ["blocks"] = $"training images b*{count}..(b+1)*{count}-1, b = 0..{Blocks - 1}, against the {reference.Count} test digits",
                ["variants"] = rows.DeepClone(), ["totalSeconds"] = total.Elapsed.TotalSeconds,
            };
            AtomicFile.WriteAllText(Path.Combine(directory, "report.json"),
                report.ToJsonString(new System.Text.Json.JsonSerializerOptions { WriteIndented = true }));
            AtomicFile.WriteAllText(Path.Combine(directory, "variants.md"), Table(report));
        }
        return new JsonObject { ["variants"] = rows.Count, ["totalSeconds"] = total.Elapsed.TotalSeconds };
    }

    private static string Table(JsonObject report)
    {
        var text = new StringBuilder();
        text.AppendLine($"Floor {report["floorMean"]!.GetValue<double>():F4} +- {report["floorStd"]!.GetValue<double>():F4} ({report["blocks"]}).");
        text.AppendLine();
        text.AppendLine("| variant | reconstruction FID | over the floor | test MSE | latent channel stds | training s | samples/s |");
        text.AppendLine("| --- | ---: | ---: | ---: | --- | ---: | ---: |");
        foreach (var row in report["variants"]!.AsArray().Select(r => r!.AsObject()))
            text.AppendLine($"| {row["name"]} | {row["reconstructionFidMean"]!.GetValue<double>():F4} +- "
                + $"{row["reconstructionFidStd"]!.GetValue<double>():F4} | "
                + $"{row["overFloor"]!.GetValue<double>():F2}x | {row["testMse"]!.GetValue<double>():F5} | "
                + $"{string.Join(", ", row["latentChannelStds"]!.AsArray().Select(v => v!.GetValue<double>().ToString("F3")))} | "
                + $"{row["trainingSeconds"]!.GetValue<double>():F0} | {row["samplesPerSecond"]!.GetValue<double>():F0} |");
        return text.ToString();
    }

    private static float[] Reconstruct(VaeEncoderTransformer vae, IDataView images)
    {
        var latents = vae.Transform(images).GetColumn<float[]>(vae.LatentColumnName).SelectMany(z => z).ToArray();
        return vae.Decode(latents, latents.Length / vae.Config.LatentSize);
    }

    private static (double Mean, double Std) Stat(double[] values)
    {
        double mean = values.Average();
        return (mean, Math.Sqrt(values.Sum(v => (v - mean) * (v - mean)) / Math.Max(1, values.Length - 1)));
    }
}
