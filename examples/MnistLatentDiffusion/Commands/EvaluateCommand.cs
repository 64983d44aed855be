using System.CommandLine;
using System.CommandLine.Parsing;
using LatentDiffusion.Data;
using LatentDiffusion.Metrics;
using LatentDiffusion.MLNet;
using LatentDiffusion.MLNet.Evaluation;
using LatentDiffusion.MLNet.Generation;
using Microsoft.ML;
using MnistLatentDiffusion.CommandLine;

namespace MnistLatentDiffusion.Commands;

/// <summary>
/// <c>evaluate</c>: scores a folder or a model's images against the MNIST test split, or one shard of a model's images
/// into a statistics file, or merges shards' statistics files. The figures all come from <see cref="FidStatistics"/>,
/// so a merge prints what one process would have.
/// </summary>
internal static class EvaluateCommand
{
    /// <summary>What <c>evaluate</c> was asked to do (checked for form by the command's options).</summary>
    internal sealed record Request(string Classifier, string? Folder, string? LabelsFile, string? Model, int Count, int ReferenceCount,
        SamplingFlags Flags, string Json, int Seed, bool Verbose, Shard Shard, string? StatsOut, string? ReferenceStatsOut,
        IReadOnlyList<string>? Merge, string? Reference);

    /// <summary>The evaluate command's own options.</summary>
    private sealed class Options
    {
        public Option<string> Classifier { get; } = new("--classifier")
        {
            Description = "The FID classifier zip written by a run", DefaultValueFactory = _ => "artifacts/default/classifier.zip",
        };
        public Option<string?> Folder { get; } = new("--folder")
        {
            Description = "A folder of images (PNG, JPEG) to score; labels from --labels-file or from sub-folders named 0..9",
        };
        public Option<string?> LabelsFile { get; } = new("--labels-file") { Description = "CSV lines 'file,label' giving the label each image of --folder "
            + "was meant to show" };
        public Option<string?> Model { get; } = new("--model") { Description = "A saved model zip to score: it generates --count class-balanced images" };
        public Option<int> Count { get; } = CliOptions.Integer("--count", "Images to generate with --model", 10_000, 2, 1_000_000);
        public Option<int> ReferenceCount { get; } =
            CliOptions.Integer("--reference-count", "Test digits to compare with (the whole test split by default)", 10_000, 2, 10_000);
        public Option<string> Json { get; } = new("--json") { Description = "Where to write the results as JSON",
            DefaultValueFactory = _ => "evaluation.json" };
        public ShardOptions Shards { get; } = CommonOptions.Shards();
        public Option<string?> StatsOut { get; } = new("--stats-out")
        {
            Description = "Write the evaluated images' FID statistics to this file ('{index}' becomes the shard index)",
        };
        public Option<string?> ReferenceStatsOut { get; } = new("--reference-stats-out")
        {
            Description = "Write the test digits' FID statistics to this file (alone: only that)",
        };
        public Option<string[]?> Merge { get; } = new("--merge")
        {
            Description = "Statistics files of shards to merge and score against --reference (no model or classifier needed)",
            AllowMultipleArgumentsPerToken = true, Arity = ArgumentArity.OneOrMore,
        };
        public Option<string?> Reference { get; } = new("--reference") { Description = "Statistics of the real images to compare with, instead of computing "
            + "them" };

        public Request Read(ParseResult p, CommonOptions common) => new(p.GetValue(Classifier)!, p.GetValue(Folder), p.GetValue(LabelsFile),
            p.GetValue(Model), p.GetValue(Count), p.GetValue(ReferenceCount), common.Flags(p), p.GetValue(Json)!, p.GetValue(common.Seed),
            p.GetValue(common.Verbose), Shards.Of(p), p.GetValue(StatsOut), p.GetValue(ReferenceStatsOut),
            p.GetValue(Merge) is { Length: > 0 } files ? files : null, p.GetValue(Reference));

        /// <summary>The combinations of options that make sense together.</summary>
        public void Check(CommandResult result)
        {
            bool hasFolder = result.GetValue(Folder) is not null, hasModel = result.GetValue(Model) is not null;
            bool merging = result.GetValue(Merge) is { Length: > 0 }, sharded = Shards.Given(result);
            if (merging)
            {
                if (hasFolder || hasModel || sharded) result.AddError("--merge scores statistics files alone: drop --folder, --model and the shard options.");
                return;
            }
            if (hasFolder && hasModel) result.AddError("evaluate takes one of --folder and --model, not both.");
            if (!hasFolder && !hasModel && result.GetValue(ReferenceStatsOut) is null)
                result.AddError("evaluate needs --folder or --model (or --merge, or --reference-stats-out alone).");
            if (result.GetValue(LabelsFile) is not null && !hasFolder) result.AddError("--labels-file goes with --folder.");
            if (sharded && !hasModel) result.AddError("the shard options go with --model: a shard is a block of the model's requests.");
            if (sharded && result.GetValue(StatsOut) is null) result.AddError("a shard's result is its statistics: give --stats-out.");
            if (sharded && result.GetResult(Json) is { Implicit: false })
                result.AddError("a shard writes statistics, not scores: --json goes with a whole set or with --merge.");
        }
    }

    public static Command Create(CommonOptions common)
    {
        var o = new Options();
        var evaluate = new Command("evaluate",
            "FID, KID, precision/recall, accuracy and label entropy of a folder of images or a saved model (with the network "
            + "passes per image it spent) against the MNIST test split; or one shard's statistics; or the merge of shards' statistics.");
        foreach (var option in (Option[])[o.Classifier, o.Folder, o.LabelsFile, o.Model, o.Count, o.ReferenceCount, .. common.Sampling, o.Json, common.Seed,
            .. o.Shards.All, o.StatsOut, o.ReferenceStatsOut, o.Merge, o.Reference, common.Verbose])
            evaluate.Options.Add(option);
        evaluate.Validators.Add(o.Check);
        evaluate.SetAction(Cli.Guarded(common.Verbose, (p, token) => Run(o.Read(p, common), token)));
        return evaluate;
    }

    /// <summary>The paths a request names, each checked before anything is loaded.</summary>
    private sealed record Paths(string? Folder, string? Labels, string? Model, string Classifier, string? Reference, string? Stats, string? ReferenceStats,
        string Json)
    {
        public static Paths Of(Request r) => new(r.Folder is null ? null : PathChecks.ExistingFolder(r.Folder, "--folder"),
            r.LabelsFile is null ? null : PathChecks.ExistingFile(r.LabelsFile, "--labels-file"),
            r.Model is null ? null : PathChecks.ExistingFile(r.Model, "--model"), PathChecks.ExistingFile(r.Classifier, "--classifier"),
            r.Reference is null ? null : PathChecks.ExistingFile(r.Reference, "--reference"),
            r.StatsOut is null ? null : PathChecks.WritableFile(r.Shard.Name(r.StatsOut), "--stats-out"),
            r.ReferenceStatsOut is null ? null : PathChecks.WritableFile(r.ReferenceStatsOut, "--reference-stats-out"), PathChecks.WritableFile(r.Json,
                "--json"));
    }

    public static async Task<int> Run(Request request, CancellationToken token)
    {
        if (request.Merge is { } parts) return Merge(request, parts);
        var paths = Paths.Of(request);
        var ml = SavedModels.Context();
        var classifier = SavedModels.Classifier(ml, paths.Classifier, "--classifier");
        // A reference from another classifier is refused before any image is generated.
        var given = paths.Reference is null ? null : GivenReference(classifier, request, paths.Reference);
        if (paths.Folder is null && paths.Model is null)
        {
            var only = ReferenceStatistics(ml, classifier, request, paths, given);
            Console.WriteLine($"Reference statistics of {only.Count:N0} test digits -> {paths.ReferenceStats}");
            return 0;
        }
        var (generated, source, passes) = paths.Folder is not null
            ? (classifier.ComputeStatistics(FolderImages.Load(ml, paths.Folder, paths.Labels, classifier.ImageShape, out var labelColumn), "Image",
                labelColumn),
                $"folder {Path.GetFullPath(request.Folder!)}", (int?)null)
            : await ModelStatistics(ml, classifier, request, paths.Model!, token);
        token.ThrowIfCancellationRequested();
        if (paths.Stats is not null) generated.Save(paths.Stats);
        if (!request.Shard.IsWhole)
        {
            if (paths.ReferenceStats is not null) ReferenceStatistics(ml, classifier, request, paths, given);
            Console.WriteLine($"{source}: statistics of {generated.Count:N0} images -> {paths.Stats}");
            return 0;
        }
        var reference = ReferenceStatistics(ml, classifier, request, paths, given);
        EvaluationTable.Print(FidEvaluatorTransformer.Score(generated, reference), source, passes, paths.Json);
        return 0;
    }

    /// <summary>The statistics of the real images: read from --reference or computed from the test split, written to --reference-stats-out.</summary>
    private static FidStatistics ReferenceStatistics(MLContext ml, FidEvaluatorTransformer classifier, Request request, Paths paths,
        FidStatistics? given)
    {
        var statistics = given
            ?? classifier.ComputeStatistics(ml.Data.TakeRows(ml.Data.LoadMnist(MnistSplit.Test), request.ReferenceCount), labelColumn: "Label");
        if (paths.ReferenceStats is not null) statistics.Save(paths.ReferenceStats);
        return statistics;
    }

    /// <summary>The --reference statistics, refused when another classifier than --classifier wrote them.</summary>
    private static FidStatistics GivenReference(FidEvaluatorTransformer classifier, Request request, string path)
    {
        var statistics = StatisticsFile.Load(path, "--reference");
        if (statistics.Instrument != classifier.InstrumentId)
            throw new CommandLineException($"--reference '{request.Reference}' was written by another classifier ({statistics.Instrument}) than "
                + $"--classifier '{request.Classifier}' ({classifier.InstrumentId}).");
        return statistics;
    }

    /// <summary>The statistics of a model's class-balanced requests (this shard's block of them), generated as they are scored.</summary>
    private static async Task<(FidStatistics Statistics, string Source, int? Passes)> ModelStatistics(MLContext ml, FidEvaluatorTransformer classifier,
        Request request, string modelFile, CancellationToken token)
    {
        var generator = request.Flags.On(SavedModels.Generator(ml, modelFile, "--model"));
        var (start, end) = request.Shard.Range(request.Count, generator.Diffusion.Sampling.BatchSize);
        int classes = generator.Diffusion.Classes;
        var requests = ml.Data.LoadFromEnumerable(Enumerable.Range(start, end - start)
            .Select(i => new GenerationRequest { Label = classes > 0 ? i % classes : -1, Seed = (long)request.Seed * 1_000_003 + i }));
        var statistics = end == start
            ? FidStatistics.Empty(classifier.InstrumentId, classifier.FeatureSize, classifier.Classes)
            : await Ui.RunAsync(request.Verbose, "evaluate", (_, _, stages) => Task.FromResult(classifier.ComputeStatistics(
                generator.WithProgress(new Relay<GenerationProgress>(p =>
                {
                    token.ThrowIfCancellationRequested();
                    stages?.Report(new StageProgress("generating", p.Images, end - start));
                })).Transform(requests),
                generator.OutputColumnName, classes > 0 ? nameof(GenerationRequest.Label) : null, nameof(GenerationRequest.Seed))));
        string range = request.Shard.IsWhole ? $"{request.Count} images" : $"{request.Shard}: images {start}..{end - 1} of {request.Count}";
        string source = $"{range} from {Path.GetFullPath(modelFile)} ({SamplingFlags.Describe(generator.Diffusion.Sampling)}, request seeds "
            + $"{request.Seed} x 1,000,003 + i)";
        int passes = generator.Diffusion.DenoiserPassesPerSample + generator.Diffusion.AutoguidancePassesPerSample;
        statistics.RecordNetworkPasses(passes);
        return (statistics, source, passes);
    }

    /// <summary><c>evaluate --merge</c>: the shards' statistics merged and scored against the reference's, with no classifier or model.</summary>
    private static int Merge(Request request, IReadOnlyList<string> parts)
    {
        var files = parts.Select(p => PathChecks.ExistingFile(p, "--merge")).ToArray();
        string referenceFile = PathChecks.ExistingFile(request.Reference ?? throw new CommandLineException(
            "--merge needs --reference, the statistics of the real images (evaluate --classifier C --reference-stats-out FILE writes them)."), "--reference");
        string jsonPath = PathChecks.WritableFile(request.Json, "--json");
        var reference = StatisticsFile.Load(referenceFile, "--reference");
        var merged = FidStatistics.Empty(reference.Instrument, reference.FeatureSize, reference.Classes, reference.SampleLimit);
        foreach (var (file, name) in files.Zip(parts))
        {
            try
            {
                merged = merged.Merge(StatisticsFile.Load(file, "--merge"));
            }
            catch (ArgumentException e)
            {
                throw new CommandLineException($"--merge '{name}': {e.Message.Split(" (Parameter")[0]}");
            }
        }
        string source = $"{files.Length} statistics files merged ({merged.Count:N0} images): {string.Join(", ", parts)}";
        EvaluationTable.Print(FidEvaluatorTransformer.Score(merged, reference), source, merged.NetworkPassesPerImage, jsonPath);
        return 0;
    }

    /// <summary>Reports on the calling thread (unlike <see cref="Progress{T}"/>, which posts to the thread pool).</summary>
    private sealed class Relay<T>(Action<T> report) : IProgress<T>
    {
        public void Report(T value) => report(value);
    }
}
