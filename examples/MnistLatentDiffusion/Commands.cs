using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using LatentDiffusion.Data;
using LatentDiffusion.Diffusion;
using LatentDiffusion.Diffusion.Samplers;
using LatentDiffusion.IO;
using LatentDiffusion.Metrics;
using LatentDiffusion.MLNet;
using LatentDiffusion.MLNet.Evaluation;
using LatentDiffusion.MLNet.Generation;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.ML;
using Microsoft.ML.Data;
using Microsoft.ML.Transforms.Image;
using Spectre.Console;

namespace MnistLatentDiffusion;

/// <summary>The sub-commands' work. Arguments arrive checked for form (<see cref="Cli"/>); here they are checked against the world before any long work.</summary>
internal static class Commands
{
    private static ILoggerFactory Logging(bool verbose, bool quiet) => LoggerFactory.Create(b =>
    {
        b.AddSimpleConsole(o => { o.SingleLine = true; o.TimestampFormat = "HH:mm:ss "; });
        b.SetMinimumLevel(verbose ? LogLevel.Debug : quiet ? LogLevel.Warning : LogLevel.Information);
    });

    private static readonly JsonSerializerOptions Indented = new() { WriteIndented = true };

    public static async Task<int> RunAsync(string preset, string? output, string device, int seed, bool resume, bool verbose, CancellationToken token)
    {
        var settings = RunSettings.For(preset) with { Seed = seed, Device = device };
        string directory = PathChecks.WritableFolder(output ?? Path.Combine("artifacts", preset), "--out");
        string checkpoints = Path.Combine(directory, "checkpoints");
        if (resume && !Directory.Exists(checkpoints))
            throw new CommandLineException($"--resume: {checkpoints} holds no checkpoints to continue from; run without --resume to start.");
        LatentDiffusion.Runtime.DeviceSelector.Resolve(LatentDiffusion.Runtime.DeviceSelector.Parse(device));   // fails now, not after the classifier
        var job = new MainJob(settings, directory) { CheckpointDirectory = checkpoints, Resume = resume };
        try
        {
            var report = await Ui.RunAsync(verbose, "MnistLatentDiffusion", (logger, training, stages) =>
                job.RunAsync(logger, training, stages, token));
            Console.WriteLine(Report.Markdown(report));
            Console.WriteLine($"Wrote {directory}");
            return 0;
        }
        catch (OperationCanceledException) when (token.IsCancellationRequested)
        {
            Console.Error.WriteLine($"Stopped. Training checkpoints are in {checkpoints}; continue with the same command and --resume "
                + $"(dotnet run -c Release --project examples/MnistLatentDiffusion -- --preset {preset} --out {output ?? Path.Combine("artifacts", preset)} --resume).");
            return Cli.Stopped;
        }
    }

    private static MLContext Context()
    {
        var ml = new MLContext(1);
        ml.ComponentCatalog.RegisterLatentDiffusion();
        return ml;
    }

    private static DigitGeneratorTransformer LoadGenerator(MLContext ml, string path, string option)
    {
        var loaded = ml.Model.Load(PathChecks.ExistingFile(path, option), out _);
        return (loaded as IEnumerable<ITransformer>)?.OfType<DigitGeneratorTransformer>().LastOrDefault()
            ?? loaded as DigitGeneratorTransformer
            ?? throw new CommandLineException($"{option} '{path}' holds no image generator; give the model.zip a run writes.");
    }

    /// <summary>The model's saved sampling settings with the options given on the command line put over them.</summary>
    private static SamplingOptions Override(SamplingOptions saved, SamplingFlags flags)
    {
        var sampling = saved.Clone();
        if (flags.Sampler is { } name) sampling.Sampler = SamplerRegistry.Create(name);
        if (flags.Steps is { } steps) sampling.Sampler = sampling.Sampler with { Steps = steps, Timesteps = null };
        if (flags.Spacing is { } spacing)
            sampling.Sampler = sampling.Sampler is SolverSampler solver
                ? solver with { Spacing = Enum.Parse<TimestepSpacing>(spacing, ignoreCase: true), Timesteps = null }
                : throw new CommandLineException($"--spacing applies only to the ODE solvers ({string.Join(", ", Cli.SolverNames)}); "
                    + $"{sampling.Sampler.Name.ToLowerInvariant()} places its steps evenly in time.");
        if (flags.Guidance is { } guidance) sampling.GuidanceScale = guidance;
        if (flags.Band is { } band) (sampling.GuidanceMinNoise, sampling.GuidanceMaxNoise, _) = Cli.ParseBand("--guidance-band", band);
        if (flags.Autoguidance is { } a) sampling.AutoguidanceScale = a;
        if (flags.AutoguidanceBand is { } ab) (sampling.AutoguidanceMinNoise, sampling.AutoguidanceMaxNoise, _) = Cli.ParseBand("--autoguidance-band", ab);
        if (flags.Precision is { } precision)
            sampling.Precision = precision.Equals("bfloat16", StringComparison.OrdinalIgnoreCase) ? SamplingPrecision.BFloat16 : SamplingPrecision.Float32;
        return sampling;
    }

    /// <summary>The sampling settings applied to a loaded generator; a setting the model cannot take (too many steps, autoguidance without its UNet) is a bad argument.</summary>
    private static DigitGeneratorTransformer WithFlags(DigitGeneratorTransformer loaded, SamplingFlags flags)
    {
        try
        {
            return loaded.WithSampling(Override(loaded.Diffusion.Sampling, flags));
        }
        catch (ArgumentOutOfRangeException e)
        {
            throw new CommandLineException($"{e.Message.Split(" (Parameter")[0]}".Replace("SamplingOptions.", "the model's ").TrimEnd() + " Check the sampling options.");
        }
    }

    private static int[] ParseLabels(string text, int classes)
    {
        if (text.Trim().Equals("none", StringComparison.OrdinalIgnoreCase)) return [-1];
        var parts = text.Split(',', StringSplitOptions.TrimEntries);
        var labels = new int[parts.Length];
        for (int i = 0; i < parts.Length; i++)
            if (!int.TryParse(parts[i], out labels[i]) || labels[i] < 0 || labels[i] >= Math.Max(classes, 1) || classes == 0)
                throw new CommandLineException(classes == 0
                    ? $"--labels '{text}': the model is unconditional; give --labels none."
                    : $"--labels '{text}': each label must be a whole number in 0..{classes - 1}, or give 'none' for unconditional samples.");
        return labels;
    }

    public static async Task<int> Generate(string modelPath, int total, string labelText, SamplingFlags flags, string png, string? raw, int seed, Shard shard,
        bool verbose, CancellationToken token)
    {
        string pngPath = PathChecks.WritableFile(shard.Name(png), "--png");
        string? rawPath = raw is null ? null : PathChecks.WritableFile(shard.Name(raw), "--raw");
        var ml = Context();
        var generator = WithFlags(LoadGenerator(ml, modelPath, "--model"), flags);
        var cycle = ParseLabels(labelText, generator.Diffusion.Classes);
        // A shard takes whole sampling batches of the requests, so its images equal the single run's.
        var (start, end) = shard.Range(total, generator.Diffusion.Sampling.BatchSize);
        int count = end - start;
        if (count == 0)
        {
            Console.WriteLine($"{shard}: no requests (the {total} requests fill fewer batches than there are shards).");
            return 0;
        }
        var labels = Enumerable.Range(start, count).Select(i => cycle[i % cycle.Length]).ToArray();
        var seeds = Enumerable.Range(start, count).Select(i => (long)seed * 1_000_003 + i).ToArray();
        var clock = Stopwatch.StartNew();
        var images = await Ui.RunAsync(verbose, "generate", (_, _, stages) => Task.FromResult(GenerateInBatches(generator, labels, seeds, stages, token)));
        if (rawPath is not null)
        {
            var bytes = new byte[images.Length * sizeof(float)];
            Buffer.BlockCopy(images, 0, bytes, 0, bytes.Length);
            AtomicFile.WriteAllBytes(rawPath, bytes);
        }
        int size = generator.ImageSize;
        Pictures.SaveGrid(pngPath, Enumerable.Range(0, count).Select(i => images[(i * size)..((i + 1) * size)]).ToList(), Math.Min(10, count), generator.ImageShape);
        string which = shard.IsWhole ? $"{count} images" : $"{shard}: images {start}..{end - 1} of {total}";
        Console.WriteLine($"{which} in {clock.Elapsed.TotalSeconds:F1} s ({Describe(generator.Diffusion.Sampling)}) -> {pngPath}"
            + (rawPath is null ? "" : $" and {rawPath}"));
        return 0;
    }

    /// <summary>Generates batch by batch, reporting progress and stopping between batches when cancelled.</summary>
    private static float[] GenerateInBatches(DigitGeneratorTransformer generator, int[] labels, long[] seeds, IProgress<StageProgress>? stages, CancellationToken token)
    {
        int size = generator.ImageSize, batch = generator.Diffusion.Sampling.BatchSize;
        var images = new float[labels.Length * size];
        for (int start = 0; start < labels.Length; start += batch)
        {
            token.ThrowIfCancellationRequested();
            int n = Math.Min(batch, labels.Length - start);
            generator.Generate(labels.AsSpan(start, n), seeds.AsSpan(start, n)).CopyTo(images, start * size);
            stages?.Report(new StageProgress("generating", start + n, labels.Length));
        }
        return images;
    }

    /// <summary>Below this many images on either side FID reads clearly high: its estimate is biased upwards as the samples shrink.</summary>
    private const int FidMinimumImages = 2000;

    /// <summary>What <c>evaluate</c> was asked to do (checked for form by <see cref="Cli"/>).</summary>
    internal sealed record EvaluateRequest(string Classifier, string? Folder, string? LabelsFile, string? Model, int Count, int ReferenceCount,
        SamplingFlags Flags, string Json, int Seed, bool Verbose, Shard Shard, string? StatsOut, string? ReferenceStatsOut,
        IReadOnlyList<string>? Merge, string? Reference);

    /// <summary>
    /// Scores a folder or a model's images against the MNIST test split, or one shard of a model's images into a
    /// statistics file, or merges shards' statistics files: the figures all come from <see cref="FidStatistics"/>, so a
    /// merge prints what one process would have.
    /// </summary>
    public static async Task<int> Evaluate(EvaluateRequest request, CancellationToken token)
    {
        if (request.Merge is { } parts) return Merge(request, parts);
        // Every path first, so that a mistake is reported before anything is loaded.
        string? folderPath = request.Folder is null ? null : PathChecks.ExistingFolder(request.Folder, "--folder");
        string? labelsPath = request.LabelsFile is null ? null : PathChecks.ExistingFile(request.LabelsFile, "--labels-file");
        string? modelFile = request.Model is null ? null : PathChecks.ExistingFile(request.Model, "--model");
        string classifierFile = PathChecks.ExistingFile(request.Classifier, "--classifier");
        string? referenceFile = request.Reference is null ? null : PathChecks.ExistingFile(request.Reference, "--reference");
        string? statsPath = request.StatsOut is null ? null : PathChecks.WritableFile(request.Shard.Name(request.StatsOut), "--stats-out");
        string? referenceStatsPath = request.ReferenceStatsOut is null ? null : PathChecks.WritableFile(request.ReferenceStatsOut, "--reference-stats-out");
        string jsonPath = PathChecks.WritableFile(request.Json, "--json");
        var ml = Context();
        var classifier = ml.Model.Load(classifierFile, out _) as FidEvaluatorTransformer
            ?? throw new CommandLineException($"--classifier '{request.Classifier}' holds no FID classifier; give the classifier.zip a run writes.");

        FidStatistics ReferenceStatistics()
        {
            var statistics = referenceFile is not null ? LoadStatistics(referenceFile, "--reference")
                : classifier.ComputeStatistics(ml.Data.TakeRows(ml.Data.LoadMnist(MnistSplit.Test), request.ReferenceCount), labelColumn: "Label");
            if (statistics.Instrument != classifier.InstrumentId)
                throw new CommandLineException($"--reference '{request.Reference}' was written by another classifier ({statistics.Instrument}) than "
                    + $"--classifier '{request.Classifier}' ({classifier.InstrumentId}).");
            if (referenceStatsPath is not null) statistics.Save(referenceStatsPath);
            return statistics;
        }

        if (folderPath is null && modelFile is null)
        {
            var only = ReferenceStatistics();
            Console.WriteLine($"Reference statistics of {only.Count:N0} test digits -> {referenceStatsPath}");
            return 0;
        }
        FidStatistics generated;
        string source;
        int? passes = null;
        if (folderPath is not null)
        {
            var (view, labelColumn) = FolderImages(ml, folderPath, labelsPath, classifier.ImageShape);
            generated = classifier.ComputeStatistics(view, "Image", labelColumn);
            source = $"folder {Path.GetFullPath(request.Folder!)}";
        }
        else
        {
            var generator = WithFlags(LoadGenerator(ml, modelFile!, "--model"), request.Flags);
            var (start, end) = request.Shard.Range(request.Count, generator.Diffusion.Sampling.BatchSize);
            int classes = generator.Diffusion.Classes;
            var requests = ml.Data.LoadFromEnumerable(Enumerable.Range(start, end - start)
                .Select(i => new GenerationRequest { Label = classes > 0 ? i % classes : -1, Seed = (long)request.Seed * 1_000_003 + i }));
            generated = end == start
                ? FidStatistics.Empty(classifier.InstrumentId, classifier.FeatureSize, classifier.Classes)
                : await Ui.RunAsync(request.Verbose, "evaluate", (_, _, stages) => Task.FromResult(classifier.ComputeStatistics(
                    generator.WithProgress(new Relay<GenerationProgress>(p =>
                    {
                        token.ThrowIfCancellationRequested();
                        stages?.Report(new StageProgress("generating", p.Images, end - start));
                    })).Transform(requests),
                    generator.OutputColumnName, classes > 0 ? nameof(GenerationRequest.Label) : null, nameof(GenerationRequest.Seed))));
            string range = request.Shard.IsWhole ? $"{request.Count} images" : $"{request.Shard}: images {start}..{end - 1} of {request.Count}";
            source = $"{range} from {Path.GetFullPath(modelFile!)} ({Describe(generator.Diffusion.Sampling)}, request seeds {request.Seed} x 1,000,003 + i)";
            passes = generator.Diffusion.DenoiserPassesPerSample + generator.Diffusion.AutoguidancePassesPerSample;
        }
        token.ThrowIfCancellationRequested();
        if (statsPath is not null) generated.Save(statsPath);
        if (!request.Shard.IsWhole)
        {
            if (referenceStatsPath is not null) ReferenceStatistics();
            Console.WriteLine($"{source}: statistics of {generated.Count:N0} images -> {statsPath}");
            return 0;
        }
        PrintEvaluation(FidEvaluatorTransformer.Score(generated, ReferenceStatistics()), source, passes, jsonPath);
        return 0;
    }

    /// <summary><c>evaluate --merge</c>: the shards' statistics merged and scored against the reference's, with no classifier or model.</summary>
    private static int Merge(EvaluateRequest request, IReadOnlyList<string> parts)
    {
        var files = parts.Select(p => PathChecks.ExistingFile(p, "--merge")).ToArray();
        string referenceFile = PathChecks.ExistingFile(request.Reference ?? throw new CommandLineException(
            "--merge needs --reference, the statistics of the real images (evaluate --classifier C --reference-stats-out FILE writes them)."), "--reference");
        string jsonPath = PathChecks.WritableFile(request.Json, "--json");
        var reference = LoadStatistics(referenceFile, "--reference");
        var merged = FidStatistics.Empty(reference.Instrument, reference.FeatureSize, reference.Classes, reference.SampleLimit);
        foreach (var (file, name) in files.Zip(parts))
        {
            try
            {
                merged = merged.Merge(LoadStatistics(file, "--merge"));
            }
            catch (ArgumentException e)
            {
                throw new CommandLineException($"--merge '{name}': {e.Message.Split(" (Parameter")[0]}");
            }
        }
        string source = $"{files.Length} statistics files merged ({merged.Count:N0} images): {string.Join(", ", parts)}";
        PrintEvaluation(FidEvaluatorTransformer.Score(merged, reference), source, null, jsonPath);
        return 0;
    }

    private static FidStatistics LoadStatistics(string path, string option)
    {
        try
        {
            return FidStatistics.Load(path);
        }
        catch (InvalidDataException e)
        {
            throw new CommandLineException($"{option} {e.Message}");
        }
    }

    /// <summary>The evaluation table and its JSON: the same for one process and for merged shards.</summary>
    private static void PrintEvaluation(GeneratorMetrics metrics, string source, int? passes, string jsonPath)
    {
        foreach (var (what, n) in new[] { ("evaluated", metrics.GeneratedCount), ("reference", metrics.ReferenceCount) })
            if (n < FidMinimumImages)
                Console.Error.WriteLine($"warning: only {n} {what} images. FID is biased upwards for small samples (200 real test digits score about 150 "
                    + $"against 100 reference digits and 79 against 10,000); compare FIDs only at equal sizes, and use {FidMinimumImages:N0} or more on each side.");
        var result = new JsonObject
        {
            ["source"] = source, ["evaluatedImages"] = metrics.GeneratedCount, ["referenceImages"] = metrics.ReferenceCount,
            ["fid"] = metrics.Fid, ["kidMean"] = metrics.KidMean, ["kidStd"] = metrics.KidStd, ["precision"] = metrics.Precision, ["recall"] = metrics.Recall,
            ["accuracy"] = metrics.ConditionalAccuracy, ["labelEntropy"] = metrics.LabelEntropy, ["networkPassesPerImage"] = passes,
        };
        AtomicFile.WriteAllText(jsonPath, result.ToJsonString(Indented));
        var table = new Table().AddColumn("measure").AddColumn(new TableColumn("value").RightAligned());
        table.AddRow("evaluated", Markup.Escape(source));
        table.AddRow("images (evaluated / reference)", $"{metrics.GeneratedCount:N0} / {metrics.ReferenceCount:N0}");
        if (passes is { } p) table.AddRow("network passes per image (guidance included)", p.ToString(CultureInfo.InvariantCulture));
        table.AddRow("FID", metrics.Fid.ToString("F3", CultureInfo.InvariantCulture));
        table.AddRow("KID (mean +- std over subsets)", $"{metrics.KidMean:F3} +- {metrics.KidStd:F3}");
        table.AddRow("precision / recall (k = 3)", $"{metrics.Precision:F3} / {metrics.Recall:F3}");
        table.AddRow("accuracy on the labels asked for", metrics.ConditionalAccuracy is { } a ? a.ToString("P2", CultureInfo.InvariantCulture) : "- (no labels)");
        table.AddRow("label entropy (ln 10 = 2.303 when balanced)", metrics.LabelEntropy.ToString("F3", CultureInfo.InvariantCulture));
        AnsiConsole.Write(table);
        Console.WriteLine($"Wrote {jsonPath}");
    }

    /// <summary>Reports on the calling thread (unlike <see cref="Progress{T}"/>, which posts to the thread pool).</summary>
    private sealed class Relay<T>(Action<T> report) : IProgress<T>
    {
        public void Report(T value) => report(value);
    }

    /// <summary>
    /// The images of a folder (PNG and JPEG, searched recursively) in the classifier's shape, through ML.NET's
    /// ImageAnalytics; labels from a CSV of 'file,label' lines, or from sub-folders named 0..9 when every image is in one.
    /// </summary>
    private static (IDataView View, string? LabelColumn) FolderImages(MLContext ml, string folder, string? labelsFile, IReadOnlyList<int> shape)
    {
        var files = Directory.EnumerateFiles(folder, "*", SearchOption.AllDirectories)
            .Where(f => f.EndsWith(".png", StringComparison.OrdinalIgnoreCase) || f.EndsWith(".jpg", StringComparison.OrdinalIgnoreCase) || f.EndsWith(".jpeg", StringComparison.OrdinalIgnoreCase))
            .Order(StringComparer.Ordinal).ToArray();
        if (files.Length < 2) throw new CommandLineException($"--folder '{folder}' holds {files.Length} PNG or JPEG images; FID needs at least 2.");
        Dictionary<string, int>? labels = null;
        if (labelsFile is not null)
        {
            string path = PathChecks.ExistingFile(labelsFile, "--labels-file");
            labels = [];
            int line = 0;
            foreach (var text in File.ReadLines(path))
            {
                line++;
                if (string.IsNullOrWhiteSpace(text)) continue;
                var parts = text.Split(',', StringSplitOptions.TrimEntries);
                if (parts.Length != 2 || !int.TryParse(parts[1], out int label) || label is < 0 or > 9)
                    throw new CommandLineException($"--labels-file '{labelsFile}', line {line}: expected 'file,label' with a label in 0..9, got '{text}'.");
                labels[Path.GetFullPath(Path.Combine(folder, parts[0]))] = label;
            }
            var missing = files.FirstOrDefault(f => !labels.ContainsKey(f));
            if (missing is not null) throw new CommandLineException($"--labels-file '{labelsFile}' gives no label for {Path.GetRelativePath(folder, missing)}.");
        }
        else if (files.All(f => Path.GetDirectoryName(Path.GetRelativePath(folder, f)) is { Length: 1 } d && char.IsAsciiDigit(d[0])))
            labels = files.ToDictionary(f => f, f => Path.GetDirectoryName(Path.GetRelativePath(folder, f))![0] - '0');
        // Full paths, so LoadImages takes no folder of its own.
        var rows = ml.Data.LoadFromEnumerable(files.Select(f => new ImageFile { Path = f, Label = labels?[f] ?? -1 }));
        var colours = shape[0] == 3 ? ImagePixelExtractingEstimator.ColorBits.Rgb : ImagePixelExtractingEstimator.ColorBits.Blue;
        IEstimator<ITransformer> pipeline = ml.Transforms.LoadImages("Picture", null, nameof(ImageFile.Path))
            .Append(ml.Transforms.ResizeImages("Picture", shape[2], shape[1]));
        if (shape[0] == 1) pipeline = pipeline.Append(ml.Transforms.ConvertToGrayscale("Picture"));
        pipeline = pipeline.Append(ml.Transforms.ExtractPixels("Image", "Picture", colours, scaleImage: 1f / 255));
        return (pipeline.Fit(rows).Transform(rows), labels is null ? null : nameof(ImageFile.Label));
    }

    public static Task<int> Toy(string output, int epochs, int rows, int seed, bool verbose, CancellationToken token)
    {
        string directory = PathChecks.WritableFolder(output, "--out");
        using var logging = Logging(verbose, quiet: false);
        var report = new ToyJob(new ToySettings { Epochs = epochs, Rows = rows, Seed = seed }, directory, logging.CreateLogger("toy")).Run(token);
        Console.WriteLine($"{report["totalSeconds"]!.GetValue<double>():F0} s; wrote {directory}");
        return Task.FromResult(0);
    }

    public static Task<int> Compare(string budgetText, int samples, string output, int seed, bool verbose, CancellationToken token)
    {
        string directory = PathChecks.WritableFolder(output, "--out");
        using var logging = Logging(verbose, quiet: false);
        var minutes = budgetText.Split(',').Select(t => double.Parse(t, CultureInfo.InvariantCulture)).ToArray();
        var report = new PathsBenchmark(minutes, samples, seed, directory, logging.CreateLogger("compare")).Run(token);
        Console.WriteLine($"{report["totalSeconds"]!.GetValue<double>():F0} s; wrote {directory}");
        return Task.FromResult(0);
    }

    public static Task<int> Colour(string output, int seed, bool verbose, CancellationToken token)
    {
        string directory = PathChecks.WritableFolder(output, "--out");
        using var logging = Logging(verbose, quiet: false);
        var report = new ColourJob(directory, seed, logging.CreateLogger("colour")).Run(token);
        Console.WriteLine($"{report["totalSeconds"]!.GetValue<double>():F0} s; wrote {directory}");
        return Task.FromResult(0);
    }

    public static Task<int> Export(string modelPath, string output)
    {
        string directory = PathChecks.WritableFolder(output, "--out");
        var generator = LoadGenerator(Context(), modelPath, "--model");
        var clock = System.Diagnostics.Stopwatch.StartNew();
        var files = generator.ExportOnnx(directory);
        foreach (var file in files) Console.WriteLine($"{Path.GetRelativePath(Environment.CurrentDirectory, file)}  {new FileInfo(file).Length:N0} bytes");
        Console.WriteLine($"{clock.Elapsed.TotalSeconds:F1} s; wrote {directory}");
        return Task.FromResult(0);
    }

    public static Task<int> OnnxBench(string modelPath, string output, int count, int sets)
    {
        string directory = PathChecks.WritableFolder(output, "--out");
        var generator = LoadGenerator(Context(), modelPath, "--model");
        var report = new DeployBenchmark(generator, directory).Run(modelPath, count, sets);
        Console.WriteLine(report.ToJsonString(new() { WriteIndented = true }));
        return Task.FromResult(0);
    }

    public static Task<int> StreamBench(string output, string rows, string? child, string? data, bool stream, int seed, bool verbose, CancellationToken token)
    {
        string directory = PathChecks.WritableFolder(output, "--out");
        if (child is not null)
        {
            if (child is not ("synthetic" or "mnist")) throw new CommandLineException($"--child must be synthetic or mnist; got '{child}'.");
            if (child == "synthetic") PathChecks.ExistingFile(data ?? throw new CommandLineException("--child synthetic needs --data, the rows' .idv file."), "--data");
            Console.WriteLine(new StreamingBenchmark(directory, seed, NullLogger.Instance).RunChild(child, data, stream, token).ToJsonString());
            return Task.FromResult(0);
        }
        var counts = rows.Split(',').Select(t => int.TryParse(t, NumberStyles.None, CultureInfo.InvariantCulture, out int n) && n is >= 100 and <= 10_000_000 ? n
            : throw new CommandLineException($"--rows must be row counts from 100 to 10000000, comma-separated; got '{rows}'.")).ToArray();
        using var logging = Logging(verbose, quiet: false);
        var report = new StreamingBenchmark(directory, seed, logging.CreateLogger("stream-bench")).Run(counts, token);
        Console.WriteLine($"{report["totalSeconds"]!.GetValue<double>():F0} s; wrote {directory}");
        return Task.FromResult(0);
    }

    public static Task<int> Sweep(string modelPath, string classifierPath, string output, int count, int sets, int tuneCount, string evaluations, string solvers, bool verbose, CancellationToken token)
    {
        string directory = PathChecks.WritableFolder(output, "--out");
        string classifierFile = PathChecks.ExistingFile(classifierPath, "--classifier");
        var ml = Context();
        var generator = LoadGenerator(ml, modelPath, "--model");
        var classifier = ml.Model.Load(classifierFile, out _) as FidEvaluatorTransformer
            ?? throw new CommandLineException($"--classifier '{classifierPath}' holds no FID classifier; give the classifier.zip a run writes.");
        using var logging = Logging(verbose, quiet: false);
        var settings = new SweepSettings
        {
            Count = count, Sets = sets, TuneCount = tuneCount,
            Evaluations = evaluations.Split(',').Select(t => int.Parse(t, CultureInfo.InvariantCulture)).ToArray(),
            Solvers = solvers.Split(',').Select(SamplerRegistry.Create).ToArray(),
        };
        var report = new SolverSweep(ml, generator, classifier, settings, directory, logging.CreateLogger("sweep")).Run(token);
        Console.WriteLine($"{report["totalSeconds"]!.GetValue<double>():F0} s; wrote {directory}");
        return Task.FromResult(0);
    }

    public static Task<int> VaeVariants(string classifierPath, string output, string names, int epochs, int count, int seed, bool verbose, CancellationToken token)
    {
        string directory = PathChecks.WritableFolder(output, "--out");
        string classifierFile = PathChecks.ExistingFile(classifierPath, "--classifier");
        var ml = Context();
        var classifier = ml.Model.Load(classifierFile, out _) as FidEvaluatorTransformer
            ?? throw new CommandLineException($"--classifier '{classifierPath}' holds no FID classifier; give the classifier.zip a run writes.");
        using var logging = Logging(verbose, quiet: false);
        var report = new VaeVariants(ml, classifier, directory, logging.CreateLogger("vae-variants")).Run(names.Split(','), epochs, count, seed, token);
        Console.WriteLine($"{report["totalSeconds"]!.GetValue<double>():F0} s; wrote {directory}");
        return Task.FromResult(0);
    }

    public static Task<int> SweepMerge(string reports, string output, bool verbose, CancellationToken token)
    {
        var paths = reports.Split(',').Select(p => PathChecks.ExistingFile(p, "--reports")).ToArray();
        string directory = PathChecks.WritableFolder(output, "--out");
        using var logging = Logging(verbose, quiet: false);
        SolverSweep.Merge(paths, directory, logging.CreateLogger("sweep"));
        Console.WriteLine($"Merged {paths.Length} sweeps into {directory}");
        return Task.FromResult(0);
    }

    private const double MinBenchSeconds = 3;

    public static Task<int> Bench(string modelPath, string outDirectory, string? precision, int memoryImages, int seed, CancellationToken token)
    {
        string directory = PathChecks.WritableFolder(outDirectory, "--out");
        var ml = Context();
        var generator = WithFlags(LoadGenerator(ml, modelPath, "--model"), new SamplingFlags(Precision: precision));
        var results = new JsonArray();
        double best50 = 0;
        var ceiling = ComputeCeiling.Measure(generator.Diffusion.Config, token);
        Console.WriteLine(ceiling.Describe());
        // The saved setting at batch 1 and 256, and in the other number format at 256; then every solver at 10, 20 and 50
        // evaluations with the saved guidance.
        var cells = new List<(SamplingOptions Options, int Batch)>();
        foreach (int batch in new[] { 1, 256 }) cells.Add((generator.Diffusion.Sampling, batch));
        var otherFormat = generator.Diffusion.Sampling;
        otherFormat.Precision = otherFormat.Precision == SamplingPrecision.BFloat16 ? SamplingPrecision.Float32 : SamplingPrecision.BFloat16;
        cells.Add((otherFormat, 256));
        foreach (var solver in SolverSweep.Solvers)
            foreach (int evaluations in new[] { 10, 20, 50 })
            {
                var options = generator.Diffusion.Sampling;
                options.Sampler = solver with { Steps = SolverSweep.StepsFor(solver, evaluations) };
                cells.Add((options, 256));
            }
        foreach (var (options, batch) in cells)
        {
            token.ThrowIfCancellationRequested();
            int n = batch == 1 ? 8 : 512;
            options.BatchSize = batch;
            var g = generator.WithSampling(options);
            g.Generate([0], [0]);
            // Whole rounds of n images until at least MinBenchSeconds have passed: one round of 8 single requests
            // at 10 steps lasts a fraction of a second, too short to time on a machine whose speed wanders.
            int generated = 0;
            var clock = Stopwatch.StartNew();
            do
            {
                token.ThrowIfCancellationRequested();
                g.Generate(Enumerable.Range(generated, n).Select(i => i % Math.Max(g.Diffusion.Classes, 1)).ToArray(), Enumerable.Range(generated, n).Select(i => (long)seed + i).ToArray());
                generated += n;
            }
            while (clock.Elapsed.TotalSeconds < MinBenchSeconds);
            double rate = generated / clock.Elapsed.TotalSeconds;
            double gflops = rate * g.Diffusion.SamplingFlopsPerSample / 1e9;
            double reference = options.Precision == SamplingPrecision.BFloat16 ? ceiling.ConvBFloat16 : ceiling.ConvFloat32;
            int evaluationsPerImage = g.Diffusion.EvaluationsPerSample;
            if (ReferenceEquals(options, cells[1].Options) && batch == 256) best50 = rate;
            Console.WriteLine($"{Describe(options)}, batch {batch,3}: {evaluationsPerImage,2} evaluations, {g.Diffusion.DenoiserPassesPerSample + g.Diffusion.AutoguidancePassesPerSample,2} passes, "
                + $"{rate,8:F1} decoded images/s, denoiser {gflops:F1} GFLOP/s ({gflops / reference:P0} of the measured conv ceiling)");
            results.Add(new JsonObject { ["sampler"] = options.Sampler.Name, ["steps"] = options.Sampler.Steps, ["evaluations"] = evaluationsPerImage, ["batchSize"] = batch,
                ["precision"] = options.Precision.ToString(), ["imagesPerSecond"] = rate, ["denoiserGflops"] = gflops, ["shareOfConvCeiling"] = gflops / reference,
                ["denoiserPassesPerImage"] = g.Diffusion.DenoiserPassesPerSample, ["autoguidancePassesPerImage"] = g.Diffusion.AutoguidancePassesPerSample });
        }
        var memory = memoryImages > 0 ? StreamingMemory(ml, generator, memoryImages, seed, token) : null;
        string reportPath = Path.Combine(directory, "report.json");
        var report = File.Exists(reportPath) ? JsonNode.Parse(File.ReadAllText(reportPath))!.AsObject() : new JsonObject();
        report["bench"] = new JsonObject
        {
            ["generation"] = results,
            ["streamingMemory"] = memory,
            ["denoiserForwardFlops"] = generator.Diffusion.DenoiserFlops,
            ["cpuPeakGflops"] = CpuPeakGflops(),
            ["ceiling"] = ceiling.ToJson(),
            ["peakWorkingSetMegabytes"] = Process.GetCurrentProcess().PeakWorkingSet64 / 1048576.0,
        };
        var throughput = report["throughput"] as JsonObject ?? new JsonObject();
        throughput["generationImagesPerSecondBench"] = best50;
        report["throughput"] = throughput;
        if (report.ContainsKey("rows")) Report.Write(directory, report);
        else AtomicFile.WriteAllText(reportPath, report.ToJsonString(Indented));
        Console.WriteLine($"CPU peak (AVX-512 FMA, {Environment.ProcessorCount} cores, nominal clock): {CpuPeakGflops():F0} GFLOP/s; merged into {reportPath}");
        return Task.FromResult(0);
    }

    /// <summary>
    /// Streams <paramref name="images"/> requests through the generator's Transform (10 DDIM steps, to keep it short)
    /// and reads the process's resident memory every tenth of the way: a long run must not grow.
    /// </summary>
    private static JsonObject StreamingMemory(MLContext ml, DigitGeneratorTransformer generator, int images, int seed, CancellationToken token)
    {
        var sampling = generator.Diffusion.Sampling;
        sampling.Sampler = new DdimSampler { Steps = 10 };
        var fast = generator.WithSampling(sampling);
        var requests = ml.Data.LoadFromEnumerable(Enumerable.Range(0, images).Select(i => new GenerationRequest { Label = i % Math.Max(fast.Diffusion.Classes, 1), Seed = (long)seed * 7_000_003 + i }));
        var view = fast.Transform(requests);
        var readings = new JsonArray();
        var clock = Stopwatch.StartNew();
        long rows = 0;
        using (var cursor = view.GetRowCursor([view.Schema[fast.OutputColumnName]]))
        {
            var getter = cursor.GetGetter<VBuffer<float>>(view.Schema[fast.OutputColumnName]);
            VBuffer<float> image = default;
            while (cursor.MoveNext())
            {
                getter(ref image);
                if (++rows % Math.Max(images / 10, 1) == 0)
                {
                    token.ThrowIfCancellationRequested();
                    long resident = Process.GetCurrentProcess().WorkingSet64 >> 20;
                    readings.Add(new JsonObject { ["images"] = rows, ["residentMegabytes"] = resident });
                    Console.WriteLine($"{rows,9:N0} images streamed: resident memory {resident:N0} MB");
                }
            }
        }
        var values = readings.Select(r => r!["residentMegabytes"]!.GetValue<long>()).ToArray();
        return new JsonObject
        {
            ["images"] = rows, ["steps"] = 10, ["seconds"] = clock.Elapsed.TotalSeconds, ["readings"] = readings,
            ["firstTenthMegabytes"] = values.FirstOrDefault(), ["lastMegabytes"] = values.LastOrDefault(), ["maxMegabytes"] = values.DefaultIfEmpty().Max(),
        };
    }

    private static string Describe(SamplingOptions s) =>
        $"{s.Sampler.Name.ToUpperInvariant()} {s.Sampler.Steps,2} steps, guidance {s.GuidanceScale:0.##} on noise levels [{s.GuidanceMinNoise:0.##}, {s.GuidanceMaxNoise:0.##}], "
        + (s.AutoguidanceScale == 1 ? "" : $"autoguidance {s.AutoguidanceScale:0.##} on [{s.AutoguidanceMinNoise:0.##}, {s.AutoguidanceMaxNoise:0.##}], ") + s.Precision;

    /// <summary>Nominal fp32 peak: cores x 2 FMA units x 16 lanes x 2 flops x clock (from /proc/cpuinfo, else 2.5 GHz).</summary>
    private static double CpuPeakGflops()
    {
        double ghz = 2.5;
        try
        {
            var line = File.ReadLines("/proc/cpuinfo").FirstOrDefault(l => l.StartsWith("cpu MHz"));
            if (line is not null) ghz = double.Parse(line.Split(':')[1].Trim(), CultureInfo.InvariantCulture) / 1000;
        }
        catch (IOException) { }
        return Environment.ProcessorCount * 2 * 16 * 2 * ghz;
    }

    private sealed class ImageFile
    {
        public string Path { get; set; } = "";
        public int Label { get; set; }
    }
}
