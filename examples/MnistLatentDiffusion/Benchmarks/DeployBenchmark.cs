using System.Diagnostics;
using System.Text.Json.Nodes;
using LatentDiffusion.Diffusion;
using LatentDiffusion.MLNet.Generation;
using LatentDiffusion.Onnx;
using MnistLatentDiffusion.Reports;

namespace MnistLatentDiffusion.Benchmarks;

/// <summary>
/// The ONNX Runtime path against TorchSharp on one saved generator: exports it, then generates the same held-out
/// requests (several sets of seeds) with TorchSharp as the model samples (its saved precision), TorchSharp in float32,
/// and ONNX Runtime (LatentDiffusion.Onnx). Reports images/s per engine (mean +- std over the sets, after a warm-up
/// batch), the time from opening the model to its first image, and how far the ONNX images are from TorchSharp's per
/// pixel; writes a grid of the first images of each engine to look at.
/// </summary>
public sealed class DeployBenchmark(DigitGeneratorTransformer generator, string directory)
{
    private const long FirstSeed = 9_100_000;

    private delegate float[] Engine(int[] labels, long[] seeds);

    public JsonObject Run(string modelPath, int count, int sets)
    {
        string onnx = Path.Combine(directory, "onnx");
        var clock = Stopwatch.StartNew();
        var files = generator.ExportOnnx(onnx);
        double exportSeconds = clock.Elapsed.TotalSeconds;

        clock.Restart();
        using var onnxGenerator = OnnxGenerator.Load(onnx);
        var firstOnnx = onnxGenerator.Generate([0], [FirstSeed - 1]);
        double onnxFirst = clock.Elapsed.TotalSeconds;

        var saved = generator.Diffusion.Sampling;
        var float32 = generator.WithSampling(CloneWith(saved, SamplingPrecision.Float32));
        var engines = new (string Name, Engine Generate)[]
        {
            ($"TorchSharp {saved.Precision}", (l, s) => generator.Generate(l, s)),
            ("TorchSharp Float32", (l, s) => float32.Generate(l, s)),
            ("ONNX Runtime", (l, s) => onnxGenerator.Generate(l, s)),
        };
        var (results, images) = TimeEngines(engines, count, sets);
        int size = generator.ImageSize, shown = 20;
        var cells = new List<float[]>();
        foreach (var (name, _) in engines)
            for (int i = 0; i < shown; i++) cells.Add(images[name][0].AsSpan(i * size, size).ToArray());
        Pictures.SaveGrid(Path.Combine(directory, "engines.png"), cells, shown, generator.ImageShape, zoom: 2, rowTitles: [.. engines.Select(e => e.Name)]);

        var report = new JsonObject
        {
            ["model"] = modelPath,
            ["sampling"] = $"{saved.Sampler.Name} {saved.Sampler.Steps} steps, guidance {saved.GuidanceScale} on [{saved.GuidanceMinNoise}, "
                + $"{saved.GuidanceMaxNoise}], autoguidance {saved.AutoguidanceScale}, {saved.Precision}, batch {saved.BatchSize}",
            ["requests"] = $"{sets} sets of {count}: labels i % 10, seeds {FirstSeed} + 100,000 set + i",
            ["exportSeconds"] = Math.Round(exportSeconds, 2),
            ["exportedBytes"] = files.Sum(f => new FileInfo(f).Length),
            ["onnxOpenToFirstImageSeconds"] = Math.Round(onnxFirst, 3),
            ["firstImageFinite"] = firstOnnx.All(float.IsFinite),
            ["engines"] = results,
            ["threads"] = Environment.ProcessorCount,
        };
        foreach (var (key, value) in Differences(images, float32, onnxGenerator, count, saved.Precision)) report[key] = value;
        LatentDiffusion.IO.AtomicFile.WriteAllText(Path.Combine(directory, "report.json"), report.ToJsonString(new() { WriteIndented = true }));
        return report;
    }

    /// <summary>Each engine's images/s over the sets (after a warm-up batch), and the images it made.</summary>
    private static (JsonObject Results, Dictionary<string, List<float[]>> Images) TimeEngines((string Name, Engine Generate)[] engines, int count, int sets)
    {
        var results = new JsonObject();
        var images = new Dictionary<string, List<float[]>>();
        foreach (var (name, generate) in engines)
        {
            generate([.. Enumerable.Range(0, 8).Select(i => i % 10)], [.. Enumerable.Range(0, 8).Select(i => FirstSeed - 100L + i)]);   // warm-up
            var rates = new List<double>();
            images[name] = [];
            for (int set = 0; set < sets; set++)
            {
                var (labels, seeds) = Requests(set, count);
                var clock = Stopwatch.StartNew();
                images[name].Add(generate(labels, seeds));
                rates.Add(count / clock.Elapsed.TotalSeconds);
            }
            double mean = rates.Average(), std = Math.Sqrt(rates.Sum(r => (r - mean) * (r - mean)) / Math.Max(1, rates.Count - 1));
            results[name] = new JsonObject
            {
                ["imagesPerSecond"] = Math.Round(mean, 2),
                ["std"] = Math.Round(std, 2),
                ["sets"] = new JsonArray([.. rates.Select(r => (JsonNode)Math.Round(r, 2))]),
            };
        }
        return (results, images);
    }

    /// <summary>How far ONNX Runtime's images are from TorchSharp's, and where the differences come from (before decoding, or in the decoder).</summary>
    private IEnumerable<(string Key, JsonNode? Value)> Differences(Dictionary<string, List<float[]>> images, DigitGeneratorTransformer float32,
        OnnxGenerator onnxGenerator, int count, SamplingPrecision saved)
    {
        int size = generator.ImageSize;
        var onnxImages = images["ONNX Runtime"].SelectMany(x => x).ToArray();
        JsonObject Difference(string name) => Compare([.. images[name].SelectMany(x => x)], onnxImages, size);
        var (firstLabels, firstSeeds) = Requests(0, count);
        var torchLatents = float32.Diffusion.Sample(firstLabels, firstSeeds);
        var onnxLatents = onnxGenerator.Sample(firstLabels, firstSeeds);
        double latentScale = torchLatents.Max(Math.Abs), latentWorst = torchLatents.Zip(onnxLatents, (a, b) => (double)Math.Abs(a - b)).Max();
        var decodedByTorch = generator.Vae is { } vae ? vae.Decode(onnxLatents, count) : null;
        yield return ("onnxAgainstTorchSharpFloat32", Difference("TorchSharp Float32"));
        yield return ("onnxAgainstTorchSharpAsSaved", Difference($"TorchSharp {saved}"));
        yield return ("samplesBeforeDecoding", new JsonObject { ["maxDifference"] = latentWorst, ["largestValue"] = latentScale, ["set"] = 0 });
        yield return ("onnxSamplesDecodedByTorchSharpAgainstTorchSharpFloat32",
            decodedByTorch is null ? null : Compare(images["TorchSharp Float32"][0], decodedByTorch, size));
        yield return ("onnxAgainstOnnxSamplesDecodedByTorchSharp", decodedByTorch is null ? null : Compare(decodedByTorch, images["ONNX Runtime"][0], size));
    }

    /// <summary>The largest and mean per-pixel difference, and how many images differ anywhere by more than 1e-3.</summary>
    private static JsonObject Compare(float[] expected, float[] actual, int size)
    {
        double max = 0, sum = 0;
        int over = 0;
        for (int row = 0; row < expected.Length / size; row++)
        {
            double rowMax = 0;
            for (int i = row * size; i < (row + 1) * size; i++)
            {
                double d = Math.Abs(expected[i] - actual[i]);
                rowMax = Math.Max(rowMax, d);
                sum += d;
            }
            max = Math.Max(max, rowMax);
            if (rowMax > 1e-3) over++;
        }
        return new JsonObject
        {
            ["maxPerPixel"] = max, ["meanPerPixel"] = sum / expected.Length, ["imagesOver1e-3"] = over, ["images"] = expected.Length / size,
        };
    }

    private static (int[] Labels, long[] Seeds) Requests(int set, int count) =>
        ([.. Enumerable.Range(0, count).Select(i => i % 10)], [.. Enumerable.Range(0, count).Select(i => FirstSeed + 100_000L * set + i)]);

    private static SamplingOptions CloneWith(SamplingOptions options, SamplingPrecision precision)
    {
        var copy = options.Clone();
        copy.Precision = precision;
        return copy;
    }
}
