using System.Diagnostics;
using System.Text.Json.Nodes;
using LatentDiffusion.Data;
using LatentDiffusion.Diffusion;
using LatentDiffusion.Diffusion.Samplers;
using LatentDiffusion.IO;
using LatentDiffusion.MLNet.Evaluation;
using LatentDiffusion.MLNet.Generation;
using Microsoft.Extensions.Logging;
using Microsoft.ML;
using MnistLatentDiffusion.CommandLine;
using MnistLatentDiffusion.Jobs;
using MnistLatentDiffusion.Reports;
using OxyPlot;
using OxyPlot.Axes;
using OxyPlot.Legends;
using OxyPlot.Series;

namespace MnistLatentDiffusion.Benchmarks;

/// <summary>What the solver sweep tries and on how many requests.</summary>
public sealed record SweepSettings
{
    public DiffusionSampler[] Solvers { get; init; } = SolverSweep.Solvers;
    /// <summary>Sampler evaluations per image (guidance passes come on top; the report gives both).</summary>
    public int[] Evaluations { get; init; } = [5, 8, 10, 15, 20, 50];
    /// <summary>The budget guidance is tuned at, per solver.</summary>
    public int TuneEvaluations { get; init; } = 10;
    public int TuneCount { get; init; } = 2_000;
    /// <summary>Requests per held-out set, and training digits per floor block.</summary>
    public int Count { get; init; } = 5_000;
    public int Sets { get; init; } = 3;
    public double[] GuidanceScales { get; init; } = [1.5, 2.25, 3];
    public GuidanceChoice[] Bands { get; init; } = [new(0, 0.5, 0.7), new(0, 0.3, 0.9)];
}

/// <summary>
/// Every sampler at several evaluation budgets on one trained model (issue 31). Guidance (scale, band, autoguidance on
/// or off) is chosen per solver on a tuning request set (seeds <see cref="MainJob.ConditionalTuningSeed"/> + i) at
/// one budget; every reported figure comes from held-out sets (seeds <see cref="MainJob.HeldOutSeed"/>(k) + i), as
/// mean +- std, over the floor measured at the same sample size. The model's own saved setting is measured the same
/// way as the baseline, and the cheapest setting within the floor's noise of the best is named.
/// </summary>
public sealed class SolverSweep(MLContext ml, DigitGeneratorTransformer generator, FidEvaluatorTransformer classifier, SweepSettings settings,
    string directory, ILogger logger)
{
    private const int Classes = 10;

    /// <summary>The samplers swept by default, with their default settings.</summary>
    public static readonly DiffusionSampler[] Solvers = [new DdimSampler(), new DpmSolverPlusPlusSampler(), new UniPcSampler(), new HeunSampler()];

    private sealed record Row(string Name, DiffusionSampler Solver, SamplingOptions Sampling, int Evaluations, int Passes, double[] Fid, double[] Accuracy,
        double ImagesPerSecond);

    public JsonObject Run(CancellationToken token)
    {
        var total = Stopwatch.StartNew();
        var test = ml.Data.LoadMnist(MnistSplit.Test);
        var train = ml.Data.LoadMnist(MnistSplit.Train);
        var reference = classifier.ComputeFeatures(test, labelColumn: "Label");
        var tuneReference = classifier.ComputeFeatures(ml.Data.TakeRows(test, settings.TuneCount));
        var floor = Enumerable.Range(0, settings.Sets)
            .Select(b => classifier.Evaluate(classifier.ComputeFeatures(ml.Data.TakeRows(b == 0 ? train : ml.Data.SkipRows(train, b * settings.Count),
                settings.Count)), reference).Fid)
            .ToArray();
        var (floorMean, floorStd) = Stat(floor);
        logger.LogInformation("Floor at {Count} images: {Mean:F4} +- {Std:F4}", settings.Count, floorMean, floorStd);

        var saved = generator.Diffusion.Sampling;
        var rows = new List<Row> { HeldOut("saved setting", saved.Sampler, saved, reference, token) };
        var tuning = new JsonArray();
        foreach (var solver in settings.Solvers)
        {
            var chosen = Tune(solver, saved, tuneReference, tuning, token);
            foreach (int evaluations in settings.Evaluations)
            {
                var options = chosen.Clone();
                options.Sampler = options.Sampler with { Steps = StepsFor(solver, evaluations) };
                rows.Add(HeldOut($"{solver.Name} {generator.Diffusion.WithSampling(options).EvaluationsPerSample}", solver, options, reference, token));
            }
        }

        var report = Write(directory, rows, floor, tuning, logger);
        report["count"] = settings.Count;
        report["sets"] = settings.Sets;
        report["tuneCount"] = settings.TuneCount;
        report["tuneEvaluations"] = settings.TuneEvaluations;
        report["heldOutSeeds"] = new JsonArray(Enumerable.Range(1, settings.Sets).Select(k => (JsonNode)$"{MainJob.HeldOutSeed(k)} + i").ToArray());
        report["tuningSeeds"] = $"{MainJob.ConditionalTuningSeed} + i";
        report["totalSeconds"] = total.Elapsed.TotalSeconds;
        AtomicFile.WriteAllText(Path.Combine(directory, "report.json"), report.ToJsonString(Indented));
        return report;
    }

    /// <summary>
    /// One table, plot and report from several sweeps of the same model, classifier and protocol (for example, solvers
    /// run separately): their floors must agree, and the saved setting's row is taken once.
    /// </summary>
    public static JsonObject Merge(IReadOnlyList<string> reportPaths, string directory, ILogger logger)
    {
        var reports = reportPaths.Select(p => JsonNode.Parse(File.ReadAllText(p))!.AsObject()).ToList();
        var floor = reports[0]["floor"]!["values"]!.AsArray().Select(v => v!.GetValue<double>()).ToArray();
        for (int i = 1; i < reports.Count; i++)
            if (!reports[i]["floor"]!["values"]!.AsArray().Select(v => v!.GetValue<double>()).SequenceEqual(floor))
                throw new CommandLineException($"--merge: '{reportPaths[i]}' has another floor than '{reportPaths[0]}': it measured another model, "
                    + $"classifier or sample size.");
        var rows = reports.SelectMany(r => r["rows"]!.AsArray()).Select(FromJson).DistinctBy(r => r.Name).ToList();
        var tuning = new JsonArray(reports.SelectMany(r => r["tuning"]!.AsArray()).Select(t => t!.DeepClone()).ToArray());
        var merged = Write(directory, rows, floor, tuning, logger);
        foreach (var key in new[] { "count", "sets", "tuneCount", "tuneEvaluations", "heldOutSeeds",
            "tuningSeeds" }) merged[key] = reports[0][key]?.DeepClone();
        merged["mergedFrom"] = new JsonArray(reportPaths.Select(p => (JsonNode)Path.GetFileName(Path.GetDirectoryName(Path.GetFullPath(p)))!).ToArray());
        AtomicFile.WriteAllText(Path.Combine(directory, "report.json"), merged.ToJsonString(Indented));
        return merged;
    }

    private static readonly System.Text.Json.JsonSerializerOptions Indented = new() { WriteIndented = true };

    /// <summary>The best row, the cheapest within the floor's noise of it, the table and the plot; returns the report's common part.</summary>
    private static JsonObject Write(string directory, List<Row> rows, double[] floor, JsonArray tuning, ILogger logger)
    {
        var (floorMean, floorStd) = Stat(floor);
        double best = rows.Min(r => r.Fid.Average());
        var cheapest = rows.Where(r => r.Fid.Average() <= best + floorStd).MinBy(r => (r.Passes, r.Fid.Average()))!;
        logger.LogInformation("Best FID {Best:F4}; cheapest within the floor's noise ({Std:F4}): {Name}, {Passes} passes, FID {Fid:F4}",
            best, floorStd, cheapest.Name, cheapest.Passes, cheapest.Fid.Average());
        AtomicFile.WriteAllText(Path.Combine(directory, "sweep.md"), Table(rows, floorMean, floorStd, cheapest));
        Plot(Path.Combine(directory, "fid-vs-evaluations.png"), rows, floorMean);
        return new JsonObject
        {
            ["floor"] = new JsonObject { ["mean"] = floorMean, ["std"] = floorStd, ["values"] = Values(floor) },
            ["tuning"] = tuning,
            ["rows"] = new JsonArray(rows.Select(r => (JsonNode)ToJson(r, floorMean)).ToArray()),
            ["recommended"] = ToJson(cheapest, floorMean),
            ["bestFid"] = best,
        };
    }

    private static Row FromJson(JsonNode? node)
    {
        var j = node!;
        var sampling = new SamplingOptions
        {
            Sampler = WithSpacing(SamplerRegistry.Create(j["solver"]!.GetValue<string>()) with { Steps = j["steps"]!.GetValue<int>() },
                Enum.Parse<TimestepSpacing>(j["spacing"]!.GetValue<string>())),
            GuidanceScale = j["guidanceScale"]!.GetValue<double>(), GuidanceMinNoise = j["guidanceMinNoise"]!.GetValue<double>(),
                GuidanceMaxNoise = j["guidanceMaxNoise"]!.GetValue<double>(),
            AutoguidanceScale = j["autoguidanceScale"]!.GetValue<double>(), AutoguidanceMinNoise = j["autoguidanceMinNoise"]!.GetValue<double>(),
            AutoguidanceMaxNoise = j["autoguidanceMaxNoise"]!.GetValue<double>(), Precision = Enum.Parse<SamplingPrecision>(j["precision"]!.GetValue<string>()),
        };
        double[] Of(string key) => j[key]!["values"]!.AsArray().Select(v => v!.GetValue<double>()).ToArray();
        return new Row(j["name"]!.GetValue<string>(), sampling.Sampler, sampling, j["evaluations"]!.GetValue<int>(), j["passes"]!.GetValue<int>(),
            Of("fid"), Of("accuracy"), j["imagesPerSecond"]!.GetValue<double>());
    }

    /// <summary>Steps that give at most <paramref name="evaluations"/> sampler evaluations (Heun evaluates twice per step but once on the last).</summary>
    public static int StepsFor(DiffusionSampler solver, int evaluations) => solver is HeunSampler ? Math.Max(1, (evaluations + 1) / 2) : evaluations;

    private static DiffusionSampler WithSpacing(DiffusionSampler sampler,
        TimestepSpacing spacing) => sampler is SolverSampler solver ? solver with { Spacing = spacing } : sampler;

    private static string SpacingOf(DiffusionSampler sampler) => sampler is SolverSampler solver ? solver.Spacing.ToString() : nameof(TimestepSpacing.Time);

    /// <summary>The guidance grid on the tuning set at the tuning budget; returns the setting with the lowest FID.</summary>
    private SamplingOptions Tune(DiffusionSampler solver, SamplingOptions saved, FeatureSet tuneReference, JsonArray log, CancellationToken token)
    {
        SamplingOptions? best = null;
        double bestFid = double.PositiveInfinity;
        foreach (double scale in settings.GuidanceScales)
            foreach (var band in settings.Bands)
                foreach (bool autoguidance in new[] { true, false })
                {
                    var options = saved.Clone();
                    options.Sampler = WithSpacing(solver with { Steps = StepsFor(solver, settings.TuneEvaluations) },
                        saved.Sampler is SolverSampler savedSolver ? savedSolver.Spacing : TimestepSpacing.Time);
                    (options.GuidanceScale, options.GuidanceMinNoise, options.GuidanceMaxNoise) = (scale, band.MinNoise, band.MaxNoise);
                    if (!autoguidance) options.AutoguidanceScale = 1;
                    var (metrics, _) = Score(options, MainJob.ConditionalTuningSeed, settings.TuneCount, tuneReference, token);
                    log.Add(new JsonObject
                    {
                        ["solver"] = solver.Name, ["guidanceScale"] = scale, ["guidanceMinNoise"] = band.MinNoise, ["guidanceMaxNoise"] = band.MaxNoise,
                        ["autoguidanceScale"] = options.AutoguidanceScale, ["fid"] = metrics.Fid, ["accuracy"] = metrics.ConditionalAccuracy,
                    });
                    logger.LogInformation("Tuning {Solver}: guidance {Scale} on [{Low}, {High}], autoguidance {Auto}: FID {Fid:F3}, accuracy {Accuracy:P2}",
                        solver.Name, scale, band.MinNoise, band.MaxNoise, options.AutoguidanceScale, metrics.Fid, metrics.ConditionalAccuracy);
                    if (metrics.Fid < bestFid) (bestFid, best) = (metrics.Fid, options);
                }
        return best!;
    }

    private Row HeldOut(string name, DiffusionSampler solver, SamplingOptions options, FeatureSet reference, CancellationToken token)
    {
        var fids = new double[settings.Sets];
        var accuracies = new double[settings.Sets];
        double seconds = 0;
        for (int k = 1; k <= settings.Sets; k++)
        {
            var (metrics, time) = Score(options, MainJob.HeldOutSeed(k), settings.Count, reference, token);
            (fids[k - 1], accuracies[k - 1]) = (metrics.Fid, metrics.ConditionalAccuracy ?? double.NaN);
            seconds += time;
        }
        var g = generator.WithSampling(options);
        var row = new Row(name, solver, options, g.Diffusion.EvaluationsPerSample,
            g.Diffusion.DenoiserPassesPerSample + g.Diffusion.AutoguidancePassesPerSample,
            fids, accuracies, settings.Sets * settings.Count / seconds);
        logger.LogInformation("{Name}: {Evaluations} evaluations, {Passes} passes; FID {Fid:F4} +- {Std:F4}, accuracy {Accuracy:P2}, {Rate:F0} images/s",
            name, row.Evaluations, row.Passes, Stat(fids).Mean, Stat(fids).Std, accuracies.Average(), row.ImagesPerSecond);
        return row;
    }

    /// <summary>Generates <paramref name="count"/> class-balanced requests with seeds <paramref name="firstSeed"/> + i (timed) and scores them.</summary>
    private (GeneratorMetrics Metrics, double Seconds) Score(SamplingOptions options, long firstSeed, int count, FeatureSet reference, CancellationToken token)
    {
        token.ThrowIfCancellationRequested();
        var g = generator.WithSampling(options);
        var clock = Stopwatch.StartNew();
        var images = g.Generate(Enumerable.Range(0, count).Select(i => i % Classes).ToArray(), Enumerable.Range(0, count).Select(i => firstSeed + i).ToArray());
        double seconds = clock.Elapsed.TotalSeconds;
        var view = ml.Data.LoadFromEnumerable(Enumerable.Range(0, count).Select(i => new LabeledImageRow { Label = i % Classes,
            Image = images[(i * 784)..((i + 1) * 784)] }));
        return (classifier.Evaluate(classifier.ComputeFeatures(view, nameof(LabeledImageRow.Image), nameof(LabeledImageRow.Label)), reference), seconds);
    }

    private static (double Mean, double Std) Stat(double[] v)
    {
        double mean = v.Average();
        return (mean, v.Length < 2 ? 0 : Math.Sqrt(v.Sum(x => (x - mean) * (x - mean)) / (v.Length - 1)));
    }

    private static JsonArray Values(IEnumerable<double> v) => new(v.Select(x => (JsonNode)x).ToArray());

    private static string Describe(SamplingOptions s) => FormattableString.Invariant(
        $"{s.Sampler.Name} {s.Sampler.Steps} steps ({SpacingOf(s.Sampler)}), guidance {s.GuidanceScale:0.##} on [{s.GuidanceMinNoise:0.##}, ")
            + FormattableString.Invariant($"{s.GuidanceMaxNoise:0.##}], ")
        + (s.AutoguidanceScale == 1 ? "no autoguidance"
            : FormattableString.Invariant($"autoguidance {s.AutoguidanceScale:0.##} on [{s.AutoguidanceMinNoise:0.##}, {s.AutoguidanceMaxNoise:0.##}]"));

    private static JsonObject ToJson(Row r, double floor) => new()
    {
        ["name"] = r.Name, ["solver"] = r.Solver.Name, ["steps"] = r.Sampling.Sampler.Steps, ["spacing"] = SpacingOf(r.Sampling.Sampler),
        ["guidanceScale"] = r.Sampling.GuidanceScale, ["guidanceMinNoise"] = r.Sampling.GuidanceMinNoise, ["guidanceMaxNoise"] = r.Sampling.GuidanceMaxNoise,
        ["autoguidanceScale"] = r.Sampling.AutoguidanceScale, ["autoguidanceMinNoise"] = r.Sampling.AutoguidanceMinNoise,
            ["autoguidanceMaxNoise"] = r.Sampling.AutoguidanceMaxNoise,
        ["precision"] = r.Sampling.Precision.ToString(), ["evaluations"] = r.Evaluations, ["passes"] = r.Passes,
        ["fid"] = new JsonObject { ["mean"] = Stat(r.Fid).Mean, ["std"] = Stat(r.Fid).Std, ["values"] = Values(r.Fid) },
        ["fidOverFloor"] = Stat(r.Fid).Mean / floor,
        ["accuracy"] = new JsonObject { ["mean"] = Stat(r.Accuracy).Mean, ["std"] = Stat(r.Accuracy).Std, ["values"] = Values(r.Accuracy) },
        ["imagesPerSecond"] = r.ImagesPerSecond,
    };

    private static string Table(List<Row> rows, double floorMean, double floorStd, Row cheapest)
    {
        var text = new System.Text.StringBuilder();
        text.AppendLine(FormattableString.Invariant($"Floor at this sample size: {floorMean:F4} +- {floorStd:F4}."));
        text.AppendLine();
        text.AppendLine("| setting | sampler evaluations | network passes | FID | over the floor | accuracy | images/s |");
        text.AppendLine("| --- | ---: | ---: | ---: | ---: | ---: | ---: |");
        foreach (var r in rows)
        {
            var (fid, fidStd) = Stat(r.Fid);
            var (acc, accStd) = Stat(r.Accuracy);
            string mark = ReferenceEquals(r, cheapest) ? " (cheapest within the floor's noise of the best)" : "";
            text.AppendLine(FormattableString.Invariant(
                $"| {Describe(r.Sampling)}{mark} | {r.Evaluations} | {r.Passes} | {fid:F4} +- {fidStd:F4} | {fid / floorMean:F2}x | {acc:P2} +- {accStd:P2} ")
                    + FormattableString.Invariant($"| {r.ImagesPerSecond:F0} |"));
        }
        return text.ToString();
    }

    private static void Plot(string path, List<Row> rows, double floor)
    {
        var model = new PlotModel { Title = "FID over the floor against network passes per image", TitleFontSize = 13, Background = OxyColors.White };
        model.Axes.Add(new LogarithmicAxis { Position = AxisPosition.Bottom, Title = "network passes per image (guidance included, log scale)",
            MajorGridlineStyle = LineStyle.Dot });
        model.Axes.Add(new LogarithmicAxis { Position = AxisPosition.Left, Title = "FID / floor (log scale)", MajorGridlineStyle = LineStyle.Dot });
        int colour = 0;
        foreach (var group in rows.Where(r => r.Name != "saved setting").GroupBy(r => r.Solver))
        {
            var series = new LineSeries { Title = group.Key.ToString(), Color = Plots.Classes[colour++ % Plots.Classes.Length], MarkerType = MarkerType.Circle,
                MarkerSize = 3 };
            foreach (var r in group.OrderBy(r => r.Passes)) series.Points.Add(new DataPoint(r.Passes, r.Fid.Average() / floor));
            model.Series.Add(series);
        }
        var saved = rows.First(r => r.Name == "saved setting");
        model.Series.Add(new ScatterSeries { Title = $"saved setting ({saved.Solver.Name} {saved.Sampling.Sampler.Steps} steps)",
            MarkerType = MarkerType.Diamond, MarkerSize = 6, MarkerFill = OxyColors.Black,
            Points = { new ScatterPoint(saved.Passes, saved.Fid.Average() / floor) } });
        model.Legends.Add(new Legend { LegendPosition = LegendPosition.TopRight });
        Plots.SaveModel(path, model, 720, 480);
    }
}
