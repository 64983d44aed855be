using System.Globalization;
using System.Diagnostics;
using System.Text.Json.Nodes;
using LatentDiffusion.Data;
using LatentDiffusion.Diffusion;
using LatentDiffusion.MLNet;
using LatentDiffusion.Training;
using Microsoft.Extensions.Logging;
using Microsoft.ML;
using Microsoft.ML.Data;
using Spectre.Console;

namespace MnistLatentDiffusion;

internal static class Commands
{
    private static ILoggerFactory Logging(bool verbose, bool quiet) => LoggerFactory.Create(b =>
    {
        b.AddSimpleConsole(o => { o.SingleLine = true; o.TimestampFormat = "HH:mm:ss "; });
        b.SetMinimumLevel(verbose ? LogLevel.Debug : quiet ? LogLevel.Warning : LogLevel.Information);
    });

    public static async Task<int> RunAsync(string preset, string? output, string device, int seed, bool verbose, CancellationToken token)
    {
        var settings = RunSettings.For(preset) with { Seed = seed, Device = device };
        string directory = output ?? Path.Combine("artifacts", preset);
        // Progress bars need a terminal; in logs (CI, redirected output) plain lines read better.
        bool bars = !verbose && !Console.IsOutputRedirected && AnsiConsole.Profile.Capabilities.Interactive;
        using var logging = Logging(verbose, quiet: bars);
        var logger = logging.CreateLogger("MnistLatentDiffusion");
        try
        {
            JsonObject report;
            if (bars)
            {
                report = await AnsiConsole.Progress()
                    .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new RemainingTimeColumn(), new SpinnerColumn())
                    .StartAsync(async ctx =>
                    {
                        var tasks = new Dictionary<string, ProgressTask>();
                        var progress = new Progress<TrainingProgress>(p =>
                        {
                            if (!tasks.TryGetValue(p.Model, out var task)) tasks[p.Model] = task = ctx.AddTask(p.Model, maxValue: p.TotalSteps);
                            task.Value = p.Step;
                            task.Description = $"{p.Model} epoch {p.Epoch} loss {p.Loss:F4}";
                        });
                        return await new MainJob(settings, directory, logger, progress).RunAsync(token);
                    });
            }
            else report = await new MainJob(settings, directory, logger).RunAsync(token);
            Console.WriteLine(Report.Markdown(report));
            Console.WriteLine($"Wrote {Path.GetFullPath(directory)}");
            return 0;
        }
        catch (OperationCanceledException)
        {
            Console.Error.WriteLine("Cancelled; files already written are complete, nothing was half-written.");
            return 130;
        }
    }

    private static MLContext Context()
    {
        var ml = new MLContext(1);
        ml.ComponentCatalog.RegisterLatentDiffusion();
        return ml;
    }

    private static DigitGeneratorTransformer LoadGenerator(MLContext ml, string path)
    {
        var loaded = ml.Model.Load(path, out _);
        return (loaded as IEnumerable<ITransformer>)?.OfType<DigitGeneratorTransformer>().LastOrDefault()
            ?? loaded as DigitGeneratorTransformer
            ?? throw new InvalidDataException($"{path} holds no DigitGeneratorTransformer.");
    }

    /// <summary>The model's saved sampling settings with the options given on the command line put over them.</summary>
    private static SamplingOptions Override(SamplingOptions saved, SamplingFlags flags)
    {
        var (samplerName, steps, guidance, band, precision, autoguidance, autoguidanceBand) = flags;
        var sampling = saved.Clone();
        if (autoguidance is { } a) sampling.AutoguidanceScale = a;
        if (samplerName is not null)
            sampling.Sampler = samplerName.ToLowerInvariant() switch { "ddim" => SamplerKind.Ddim, "ddpm" => SamplerKind.Ddpm, _ => throw new ArgumentException($"Unknown sampler '{samplerName}': expected ddim or ddpm.") };
        if (steps is { } s) sampling.Steps = s;
        if (guidance is { } g) sampling.GuidanceScale = g;
        if (band is not null) (sampling.GuidanceMinNoise, sampling.GuidanceMaxNoise) = Band("--guidance-band", band);
        if (autoguidanceBand is not null) (sampling.AutoguidanceMinNoise, sampling.AutoguidanceMaxNoise) = Band("--autoguidance-band", autoguidanceBand);
        if (precision is not null)
            sampling.Precision = precision.ToLowerInvariant() switch
            {
                "float32" => SamplingPrecision.Float32, "bfloat16" => SamplingPrecision.BFloat16,
                _ => throw new ArgumentException($"--precision '{precision}': expected float32 or bfloat16."),
            };
        return sampling;
    }

    /// <summary>A band of noise levels given as LOW,HIGH.</summary>
    private static (double Low, double High) Band(string option, string text)
    {
        var ends = text.Split(',');
        if (ends.Length != 2 || !double.TryParse(ends[0], System.Globalization.CultureInfo.InvariantCulture, out double low)
            || !double.TryParse(ends[1], System.Globalization.CultureInfo.InvariantCulture, out double high))
            throw new ArgumentException($"{option} '{text}': expected LOW,HIGH, for example 0.4,0.9.");
        return (low, high);
    }

    public static int Generate(string modelPath, int count, string labelText, SamplingFlags flags, string png, string? raw, int seed, CancellationToken token)
    {
        var ml = Context();
        var loaded = LoadGenerator(ml, modelPath);
        var generator = loaded.WithSampling(Override(loaded.Sampling, flags));
        int[] cycle = labelText.Trim().Equals("none", StringComparison.OrdinalIgnoreCase) ? [-1] : labelText.Split(',').Select(s => int.Parse(s.Trim())).ToArray();
        var labels = Enumerable.Range(0, count).Select(i => cycle[i % cycle.Length]).ToArray();
        var clock = Stopwatch.StartNew();
        var images = generator.Generate(labels, Enumerable.Range(0, count).Select(i => (long)seed * 1_000_003 + i).ToArray());
        token.ThrowIfCancellationRequested();
        if (raw is not null)
        {
            var bytes = new byte[images.Length * sizeof(float)];
            Buffer.BlockCopy(images, 0, bytes, 0, bytes.Length);
            LatentDiffusion.IO.AtomicFile.WriteAllBytes(raw, bytes);
        }
        Pictures.SaveGrid(png, Enumerable.Range(0, count).Select(i => images[(i * 784)..((i + 1) * 784)]).ToList(), Math.Min(10, count), 28);
        Console.WriteLine($"{count} images in {clock.Elapsed.TotalSeconds:F1} s -> {Path.GetFullPath(png)}");
        return 0;
    }

    public static int Evaluate(string classifierPath, string? folder, string? modelPath, int count, SamplingFlags flags, int seed, CancellationToken token)
    {
        var ml = Context();
        var classifier = (FidEvaluatorTransformer)ml.Model.Load(classifierPath, out _);
        IDataView generated;
        string column;
        string? labelColumn = null;
        if (folder is not null)
        {
            // Standard ML.NET image loading: any size of PNG becomes 28x28 grayscale floats in [0,1].
            var files = ml.Data.LoadFromEnumerable(Directory.EnumerateFiles(folder, "*.png").Select(f => new ImagePath { Path = f }));
            generated = ml.Transforms.LoadImages("Picture", folder, nameof(ImagePath.Path))
                .Append(ml.Transforms.ResizeImages("Picture", 28, 28))
                .Append(ml.Transforms.ConvertToGrayscale("Picture"))
                .Append(ml.Transforms.ExtractPixels("Image", "Picture", scaleImage: 1f / 255, colorsToExtract: Microsoft.ML.Transforms.Image.ImagePixelExtractingEstimator.ColorBits.Blue))
                .Fit(files).Transform(files);
            column = "Image";
        }
        else if (modelPath is not null)
        {
            var loaded = LoadGenerator(ml, modelPath);
            var generator = loaded.WithSampling(Override(loaded.Sampling, flags with { Sampler = null }));
            Console.WriteLine($"Sampling: {Describe(generator.Sampling)}");
            var requests = ml.Data.LoadFromEnumerable(Enumerable.Range(0, count).Select(i => new GenerationRequest { Label = i % 10, Seed = (long)seed * 1_000_003 + i }));
            generated = generator.Transform(requests);
            column = generator.OutputColumnName;
            labelColumn = "Label";
        }
        else throw new ArgumentException("Give --folder or --model.");
        var metrics = classifier.Evaluate(classifier.ComputeFeatures(generated, column, labelColumn),
            classifier.ComputeFeatures(ml.Data.TakeRows(ml.Data.LoadMnist(MnistSplit.Test), Math.Max(count, 2))));
        Console.WriteLine(metrics);
        return 0;
    }

    public static int Toy(string output, int epochs, int rows, int seed, bool verbose, CancellationToken token)
    {
        using var logging = Logging(verbose, quiet: false);
        var settings = new ToySettings { Epochs = epochs, Rows = rows, Seed = seed };
        var report = new ToyJob(settings, output, logging.CreateLogger("toy")).Run(token);
        Console.WriteLine($"{report["totalSeconds"]!.GetValue<double>():F0} s; wrote {Path.GetFullPath(output)}");
        return 0;
    }

    public static int Compare(string budgetText, int samples, string output, int seed, bool verbose, CancellationToken token)
    {
        using var logging = Logging(verbose, quiet: false);
        var minutes = budgetText.Split(',').Select(t => double.Parse(t, CultureInfo.InvariantCulture)).ToArray();
        var report = new PathsBenchmark(minutes, samples, seed, output, logging.CreateLogger("compare")).Run(token);
        Console.WriteLine($"{report["totalSeconds"]!.GetValue<double>():F0} s; wrote {Path.GetFullPath(output)}");
        return 0;
    }

    private const double MinBenchSeconds = 3;

    public static int Bench(string modelPath, string outDirectory, string? precision, int seed, CancellationToken token)
    {
        var ml = Context();
        var loaded = LoadGenerator(ml, modelPath);
        var generator = loaded.WithSampling(Override(loaded.Sampling, new SamplingFlags(Precision: precision)));
        var results = new JsonArray();
        double best50 = 0;
        foreach (int steps in new[] { 10, 20, 50 })
            foreach (int batch in new[] { 1, 256 })
            {
                token.ThrowIfCancellationRequested();
                int n = batch == 1 ? 8 : 512;
                var options = generator.Sampling.Clone();
                (options.Steps, options.BatchSize) = (steps, batch);
                var g = generator.WithSampling(options);
                g.Generate([0], [0]);
                // Whole rounds of n images until at least MinBenchSeconds have passed: one round of 8 single requests
                // at 10 steps lasts a fraction of a second, too short to time on a machine whose speed wanders.
                int generated = 0;
                var clock = Stopwatch.StartNew();
                do
                {
                    g.Generate(Enumerable.Range(generated, n).Select(i => i % 10).ToArray(), Enumerable.Range(generated, n).Select(i => (long)seed + i).ToArray());
                    generated += n;
                }
                while (clock.Elapsed.TotalSeconds < MinBenchSeconds);
                double rate = generated / clock.Elapsed.TotalSeconds;
                double gflops = rate * g.SamplingFlopsPerSample / 1e9;
                if (steps == 50 && batch == 256) best50 = rate;
                Console.WriteLine($"{Describe(options)}, batch {batch,3}: {rate,8:F1} decoded images/s, denoiser {gflops:F1} GFLOP/s");
                results.Add(new JsonObject { ["steps"] = steps, ["batchSize"] = batch, ["precision"] = options.Precision.ToString(), ["imagesPerSecond"] = rate, ["denoiserGflops"] = gflops,
                    ["denoiserPassesPerImage"] = g.DenoiserPassesPerSample, ["autoguidancePassesPerImage"] = g.AutoguidancePassesPerSample });
            }
        string reportPath = Path.Combine(outDirectory, "report.json");
        var report = File.Exists(reportPath) ? JsonNode.Parse(File.ReadAllText(reportPath))!.AsObject() : new JsonObject();
        report["bench"] = new JsonObject
        {
            ["generation"] = results,
            ["denoiserForwardFlops"] = generator.DenoiserFlops,
            ["cpuPeakGflops"] = CpuPeakGflops(),
            ["peakWorkingSetMegabytes"] = Process.GetCurrentProcess().PeakWorkingSet64 / 1048576.0,
        };
        var throughput = report["throughput"] as JsonObject ?? new JsonObject();
        throughput["generationImagesPerSecondBench"] = best50;
        report["throughput"] = throughput;
        Directory.CreateDirectory(outDirectory);
        if (report.ContainsKey("fid")) Report.Write(outDirectory, report);
        else LatentDiffusion.IO.AtomicFile.WriteAllText(reportPath, report.ToJsonString(new System.Text.Json.JsonSerializerOptions { WriteIndented = true }));
        Console.WriteLine($"CPU peak (AVX-512 FMA, {Environment.ProcessorCount} cores, nominal clock): {CpuPeakGflops():F0} GFLOP/s; merged into {reportPath}");
        return 0;
    }

    private static string Describe(SamplingOptions s) =>
        $"{s.Sampler.ToString().ToUpperInvariant()} {s.Steps,2} steps, guidance {s.GuidanceScale:0.##} on noise levels [{s.GuidanceMinNoise:0.##}, {s.GuidanceMaxNoise:0.##}], "
        + (s.AutoguidanceScale == 1 ? "" : $"autoguidance {s.AutoguidanceScale:0.##} on [{s.AutoguidanceMinNoise:0.##}, {s.AutoguidanceMaxNoise:0.##}], ") + s.Precision;

    /// <summary>Nominal fp32 peak: cores x 2 FMA units x 16 lanes x 2 flops x clock (from /proc/cpuinfo, else 2.5 GHz).</summary>
    private static double CpuPeakGflops()
    {
        double ghz = 2.5;
        try
        {
            var line = File.ReadLines("/proc/cpuinfo").FirstOrDefault(l => l.StartsWith("cpu MHz"));
            if (line is not null) ghz = double.Parse(line.Split(':')[1].Trim(), System.Globalization.CultureInfo.InvariantCulture) / 1000;
        }
        catch (IOException) { }
        return Environment.ProcessorCount * 2 * 16 * 2 * ghz;
    }

    private sealed class ImagePath
    {
        public string Path { get; set; } = "";
    }
}

/// <summary>Sampling settings given on the command line; null keeps the model's saved setting.</summary>
public sealed record SamplingFlags(string? Sampler = null, int? Steps = null, double? Guidance = null, string? Band = null, string? Precision = null, double? Autoguidance = null,
    string? AutoguidanceBand = null);
