using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.Json.Nodes;
using LatentDiffusion.Data;
using LatentDiffusion.Diffusion;
using LatentDiffusion.IO;
using LatentDiffusion.MLNet.Autoencoder;
using LatentDiffusion.MLNet.Denoising;
using LatentDiffusion.MLNet.Estimators;
using LatentDiffusion.Training;
using Microsoft.Extensions.Logging;
using Microsoft.ML;
using Microsoft.ML.Data;

namespace MnistLatentDiffusion.Benchmarks;

/// <summary>
/// Training data in memory against streamed from the view (<see cref="TrainingOptions.StreamTrainingData"/>): peak
/// resident memory against the number of rows (synthetic 1x16x16 rows in an ML.NET binary file, 10k to 1M), and
/// training throughput on MNIST (the default preset's VAE on the images, then its diffusion model on the latents,
/// cached to disk when streamed). Every configuration runs in its own process, so each peak is its own. The synthetic
/// runs train for the same 10 s whatever their size (epochs: as many as fit), so they differ only in their data.
/// </summary>
public sealed class StreamingBenchmark(string outputDirectory, int seed, ILogger logger)
{
    private static readonly int[] SyntheticShape = [1, 16, 16];

    public sealed class Row
    {
        [VectorType(1, 16, 16)] public float[] Image { get; set; } = [];
    }

    public JsonObject Run(int[] rowCounts, CancellationToken token)
    {
        Directory.CreateDirectory(outputDirectory);
        var total = Stopwatch.StartNew();
        var synthetic = new JsonArray();
        foreach (int rows in rowCounts)
        {
            string data = Path.Combine(outputDirectory, $"synthetic-{rows}.idv");
            if (!File.Exists(data)) WriteSynthetic(data, rows);
            foreach (bool stream in new[] { false, true })
            {
                var result = Child(["--child", "synthetic", "--data", data, "--stream", stream ? "true" : "false"], token);
                logger.LogInformation("{Rows} rows, {Mode}: peak {Peak:F0} MB ({Baseline:F0} MB before reading), fit {Seconds:F1} s", rows,
                    stream ? "streamed" : "in memory", result["peakMb"]!.GetValue<double>(), result["baselineMb"]!.GetValue<double>(),
                    result["fitSeconds"]!.GetValue<double>());
                result["rows"] = rows;
                synthetic.Add(result);
            }
        }
        var mnist = new JsonArray();
        foreach (bool stream in new[] { false, true })
        {
            var result = Child(["--child", "mnist", "--stream", stream ? "true" : "false"], token);
            logger.LogInformation("MNIST, {Mode}: VAE {Vae:F0} samples/s, diffusion {Diffusion:F0} samples/s, fit {Seconds:F1} s, peak {Peak:F0} MB",
                stream ? "streamed" : "in memory", result["vaeSamplesPerSecond"]!.GetValue<double>(), result["diffusionSamplesPerSecond"]!.GetValue<double>(),
                result["fitSeconds"]!.GetValue<double>(), result["peakMb"]!.GetValue<double>());
            mnist.Add(result);
        }
        var report = new JsonObject
        {
            ["command"] = "stream-bench", ["seed"] = seed, ["shuffleBufferRows"] = new LatentDiffusionOptions().ShuffleBufferRows,
            ["synthetic"] = synthetic, ["mnist"] = mnist, ["totalSeconds"] = total.Elapsed.TotalSeconds,
        };
        AtomicFile.WriteAllText(Path.Combine(outputDirectory, "report.json"), report.ToJsonString(new() { WriteIndented = true }));
        AtomicFile.WriteAllText(Path.Combine(outputDirectory, "streaming.md"), Markdown(report));
        return report;
    }

    /// <summary>The tables of a report, as docs/results.md shows them.</summary>
    public static string Markdown(JsonObject report)
    {
        static string F(JsonNode? n, string format) => n!.GetValue<double>().ToString(format, CultureInfo.InvariantCulture);
        var text = new StringBuilder();
        text.AppendLine("| rows (1x16x16) | data on disk | in memory: peak RSS | streamed: peak RSS | in memory: fit | streamed: fit |");
        text.AppendLine("|---:|---:|---:|---:|---:|---:|");
        foreach (var pair in report["synthetic"]!.AsArray().Chunk(2))
            text.AppendLine($"| {pair[0]!["rows"]!.GetValue<int>():N0} | {F(pair[0]!["dataMb"], "F0")} MB | {F(pair[0]!["peakMb"], "F0")} MB | "
                + $"{F(pair[1]!["peakMb"], "F0")} MB | {F(pair[0]!["fitSeconds"], "F1")} s | {F(pair[1]!["fitSeconds"], "F1")} s |");
        text.AppendLine();
        text.AppendLine("| MNIST (60,000 images) | VAE samples/s | diffusion samples/s | whole fit | peak RSS |");
        text.AppendLine("|---|---:|---:|---:|---:|");
        foreach (var r in report["mnist"]!.AsArray())
            text.AppendLine($"| {(r!["stream"]!.GetValue<bool>() ? "streamed (latents cached to .idv)" : "in memory")} | {F(r["vaeSamplesPerSecond"], "F0")} | "
                + $"{F(r["diffusionSamplesPerSecond"], "F0")} | {F(r["fitSeconds"], "F1")} s | {F(r["peakMb"], "F0")} MB |");
        return text.ToString();
    }

    /// <summary>Writes <paramref name="rows"/> seeded random rows to an ML.NET binary file, one row at a time.</summary>
    private void WriteSynthetic(string path, int rows)
    {
        var ml = new MLContext(seed);
        int size = SyntheticShape.Aggregate(1, (a, b) => a * b);
        IEnumerable<Row> Rows()
        {
            var random = new Random(seed);
            for (int r = 0; r < rows; r++) yield return new Row { Image = Enumerable.Range(0,
                size).Select(_ => (float)(random.NextDouble() * 2 - 1)).ToArray() };
        }
        AtomicFile.Write(path, s => ml.Data.SaveAsBinary(ml.Data.LoadFromEnumerable(Rows()), s));
        logger.LogInformation("Wrote {Rows} synthetic rows to {Path} ({Bytes:N0} bytes)", rows, path, new FileInfo(path).Length);
    }

    /// <summary>Runs this command again in a child process for one configuration; returns the JSON it prints last.</summary>
    private JsonObject Child(string[] arguments, CancellationToken token)
    {
        string self = Environment.ProcessPath!;
        var start = new ProcessStartInfo(self) { RedirectStandardOutput = true, UseShellExecute = false };
        if (Path.GetFileNameWithoutExtension(self) == "dotnet") start.ArgumentList.Add(typeof(StreamingBenchmark).Assembly.Location);
        foreach (var a in (string[])["stream-bench", "--out", outputDirectory, "--seed", seed.ToString(CultureInfo.InvariantCulture), .. arguments])
            start.ArgumentList.Add(a);
        using var process = Process.Start(start)!;
        using var _ = token.Register(() => process.Kill(entireProcessTree: true));
        string output = process.StandardOutput.ReadToEnd();
        process.WaitForExit();
        if (process.ExitCode != 0) throw new InvalidOperationException($"stream-bench {string.Join(' ', arguments)} exited with {process.ExitCode}.");
        return JsonNode.Parse(output.Trim().Split('\n')[^1])!.AsObject();
    }

    /// <summary>One configuration, in this process: trains, then reports its figures (peak resident memory from /proc).</summary>
    public JsonObject RunChild(string kind, string? data, bool stream, CancellationToken token)
    {
        var ml = new MLContext(seed);
        using (var warm = TorchSharp.torch.zeros(1)) { }
        double baseline = Memory("VmRSS");
        var clock = Stopwatch.StartNew();
        var result = new JsonObject { ["kind"] = kind, ["stream"] = stream };
        if (kind == "synthetic")
        {
            var view = ml.Data.LoadFromBinary(data!);
            var trainer = ml.Transforms.TrainLatentDiffusion(new LatentDiffusionOptions
            {
                InputColumnName = nameof(Row.Image), LabelColumnName = null, DataShape = SyntheticShape, Width = 16, Epochs = 1000,
                    MaxTrainingTime = TimeSpan.FromSeconds(10),
                AutoguidanceWidth = 0, Seed = seed, StreamTrainingData = stream, Logger = logger, CancellationToken = token,
            });
            var model = trainer.Fit(view);
            result["dataMb"] = new FileInfo(data!).Length / 1048576.0;
            result["samplesPerSecond"] = model.History.Epochs[^1].SamplesPerSecond;
        }
        else
        {
            var train = ml.Data.LoadMnist(MnistSplit.Train);
            string cache = Path.Combine(outputDirectory, "cache");
            var vae = ml.Transforms.EncodeToLatent(new VaeEncoderOptions
            {
                Epochs = 1, LatentChannels = 4, Architecture = LatentDiffusion.Models.VaeArchitecture.Residual, Attention = true,
                Regularization = LatentDiffusion.Models.VaeRegularization.Vq, CodebookSize = 256, Precision = TrainingPrecision.BFloat16, Seed = seed,
                StreamTrainingData = stream, Logger = logger, CancellationToken = token,
            }).Fit(train);
            var diffusion = ml.Transforms.TrainLatentDiffusion(new LatentDiffusionOptions
            {
                LabelColumnName = "Label", Epochs = 3, Width = 48, AutoguidanceWidth = 0, Schedule = NoiseScheduleKind.Cosine,
                Objective = DiffusionObjective.Velocity, LossWeighting = LossWeighting.MinSnr, MinSnrGamma = 5, Precision = TrainingPrecision.BFloat16,
                Seed = seed, StreamTrainingData = stream, StreamingCacheDirectory = stream ? cache : null, Logger = logger, CancellationToken = token,
            }).Fit(vae.Transform(train));
            result["vaeSamplesPerSecond"] = vae.History.Epochs.Average(e => e.SamplesPerSecond);
            result["diffusionSamplesPerSecond"] = diffusion.History.Epochs.Average(e => e.SamplesPerSecond);
            result["diffusionEpochSamplesPerSecond"] = new JsonArray([.. diffusion.History.Epochs.Select(e => (JsonNode)e.SamplesPerSecond)]);
        }
        result["fitSeconds"] = clock.Elapsed.TotalSeconds;
        result["baselineMb"] = baseline;
        result["peakMb"] = Memory("VmHWM");
        return result;
    }

    /// <summary>A memory figure of this process from /proc/self/status, in MB.</summary>
    private static double Memory(string field)
    {
        string line = File.ReadLines("/proc/self/status").First(l => l.StartsWith(field + ":", StringComparison.Ordinal));
        return long.Parse(line.Split([' ', '\t'], StringSplitOptions.RemoveEmptyEntries)[1], CultureInfo.InvariantCulture) / 1024.0;
    }
}
