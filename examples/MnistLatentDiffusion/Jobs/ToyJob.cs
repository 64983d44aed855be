using System.Diagnostics;
using System.Text.Json;
using System.Text.Json.Nodes;
using LatentDiffusion.Data;
using LatentDiffusion.Diffusion;
using LatentDiffusion.Diffusion.Samplers;
using LatentDiffusion.IO;
using LatentDiffusion.Metrics;
using LatentDiffusion.MLNet.Denoising;
using Microsoft.Extensions.Logging;
using Microsoft.ML;
using Microsoft.ML.Data;
using MnistLatentDiffusion.Reports;
using OxyPlot;

namespace MnistLatentDiffusion.Jobs;

/// <summary>Sizes of the toy run (seed 001's point clouds).</summary>
public sealed record ToySettings
{
    /// <summary>Training rows per set; seed 001 used 1024 x 128.</summary>
    public int Rows { get; init; } = ToyData.SeedRows;
    public int Epochs { get; init; } = 8;
    public int Width { get; init; } = 128;
    public int Depth { get; init; } = 3;
    /// <summary>Seed 001's 200 timesteps. The schedule goes with the objective (see <see cref="ToyJob"/>).</summary>
    public int Timesteps { get; init; } = 200;
    public int BatchSize { get; init; } = 512;
    /// <summary>
    /// Generated points per check, and the size of each fresh sample of the true distribution: moments compare all of
    /// them (the parabola's heavy-tailed y makes smaller samples' variances too noisy to judge), the energy distance the
    /// first 2,000.
    /// </summary>
    public int Samples { get; init; } = 10_000;
    /// <summary>DDIM steps: striding, 40 of the 200 timesteps.</summary>
    public int Steps { get; init; } = 40;
    public int Seed { get; init; } = 1;

    /// <summary>The acceptance bounds, in units of the true data's standard deviation per dimension.</summary>
    public double MaxMeanError { get; init; } = 0.1;
    public double MaxCovarianceError { get; init; } = 0.15;
    public double MaxEnergyDistance { get; init; } = 0.005;
    /// <summary>
    /// A generated point lands on a component when that component is its nearest and it lies within this distance of it
    /// (the data's noise is 0.01). Unconditional samples of the moons-and-circles set must land on some component, the
    /// energy distance in four dimensions being too coarse to see thin structure alone.
    /// </summary>
    public double ComponentTolerance { get; init; } = 0.1;
    public double MinComponentShare { get; init; } = 0.9;
}

/// <summary>
/// Seed 001's system on the library's engine: an MLP denoiser learns the parabola and the moons-and-circles set with
/// each objective; samples are checked against fresh samples of the true distribution; the labelled set is sampled
/// per class with and without guidance. Writes scatter plots, denoising strips and report.json.
/// </summary>
public sealed class ToyJob(ToySettings settings, string outputDirectory, ILogger logger)
{
    private sealed record Objective(string Key, string Name, DiffusionObjective Target, DiffusionLossKind Loss, LossWeighting Weighting,
        NoiseScheduleKind Schedule);

    // Epsilon prediction takes the linear schedule: the cosine schedule's near-zero final signal-to-noise ratio magnifies
    // an epsilon model's errors by 1 / sqrt(alpha-bar) at the first steps (tuning runs: covariance error 1.0 on the parabola).
    private static readonly Objective[] Objectives =
    [
        new("sampleHuberSnrDifference", "x0, SNR-weighted Huber (seed 001)", DiffusionObjective.Sample, DiffusionLossKind.Huber, LossWeighting.SnrDifference,
            NoiseScheduleKind.Cosine),
        new("epsilonMse", "epsilon, MSE", DiffusionObjective.Epsilon, DiffusionLossKind.MeanSquaredError, LossWeighting.None, NoiseScheduleKind.Linear),
        new("velocityMse", "velocity, MSE", DiffusionObjective.Velocity, DiffusionLossKind.MeanSquaredError, LossWeighting.None, NoiseScheduleKind.Cosine),
    ];

    private static readonly double[] GuidanceScales = [0, 1, 3];

    public JsonObject Run(CancellationToken cancellationToken)
    {
        Directory.CreateDirectory(outputDirectory);
        var total = Stopwatch.StartNew();
        var ml = new MLContext(settings.Seed);
        var sets = new JsonObject();
        foreach (var set in new[] { ToyDataSet.Parabola, ToyDataSet.MoonsAndCircles })
        {
            int dims = ToyData.Dimensions(set);
            var train = ml.Data.LoadToyData(set, settings.Rows, settings.Seed);
            var (truth, _) = ToyData.Generate(set, settings.Samples, settings.Seed + 1000);
            var (second, _) = ToyData.Generate(set, settings.Samples, settings.Seed + 2000);
            var std = Std(truth, dims);
            double nullDistance = PointCloudStatistics.EnergyDistance(Scaled(truth, std), Scaled(second, std), dims);
            var results = new JsonObject();
            var generated = new List<(Objective Objective, float[] Samples, LatentDiffusionTransformer Model)>();
            foreach (var objective in Objectives)
            {
                cancellationToken.ThrowIfCancellationRequested();
                var (model, seconds) = Fit(ml, train, objective, labelled: false, cancellationToken);
                var requests = Enumerable.Range(0, settings.Samples).Select(i => (long)(settings.Seed * 1_000_003L + i)).ToArray();
                var samples = model.Sample(Enumerable.Repeat(-1, settings.Samples).ToArray(), requests);
                var check = Compare(samples, truth, std, dims) with { OnComponent = set == ToyDataSet.MoonsAndCircles ? OnAnyComponent(samples) : null };
                logger.LogInformation("{Set}, {Objective}: mean error {Mean:F3}, covariance error {Cov:F3}, energy distance {Ed:F4} (two true samples: "
                    + "{Null:F4}){Share}, {Seconds:F0} s",
                    set, objective.Name, check.MeanError, check.CovarianceError, check.EnergyDistance, nullDistance,
                    check.OnComponent is { } share ? $", {share:P1} on a component" : "", seconds);
                results[objective.Key] = Json(objective, seconds, model, check);
                generated.Add((objective, samples, model));
            }
            var entry = new JsonObject
            {
                ["dimensions"] = dims, ["trueSampleEnergyDistance"] = nullDistance, ["objectives"] = results,
            };
            if (ToyData.Classes(set) > 0) entry["labelled"] = Labelled(ml, train, cancellationToken);
            sets[Key(set)] = entry;
            Pictures(set, train, generated);
        }
        var report = new JsonObject
        {
            ["rows"] = settings.Rows, ["epochs"] = settings.Epochs, ["width"] = settings.Width, ["depth"] = settings.Depth, ["timesteps"] = settings.Timesteps,
            ["batchSize"] = settings.BatchSize, ["sampler"] = new JsonObject { ["name"] = new DdimSampler().Name, ["steps"] = settings.Steps },
                ["samples"] = settings.Samples, ["seed"] = settings.Seed,
            ["acceptance"] = new JsonObject
            {
                ["units"] = "errors and distances are measured after dividing each dimension by the true data's standard deviation",
                ["maxMeanError"] = settings.MaxMeanError, ["maxCovarianceError"] = settings.MaxCovarianceError,
                    ["maxEnergyDistance"] = settings.MaxEnergyDistance,
                ["componentTolerance"] = settings.ComponentTolerance, ["minComponentShare"] = settings.MinComponentShare,
            },
            ["sets"] = sets,
            ["totalSeconds"] = total.Elapsed.TotalSeconds,
        };
        AtomicFile.WriteAllText(Path.Combine(outputDirectory, "report.json"), report.ToJsonString(new JsonSerializerOptions { WriteIndented = true }));
        return report;
    }

    private static string Key(ToyDataSet set) => set == ToyDataSet.Parabola ? "parabola" : "moonsAndCircles";

    private (LatentDiffusionTransformer Model, double Seconds) Fit(MLContext ml, IDataView train, Objective objective, bool labelled, CancellationToken token)
    {
        var clock = Stopwatch.StartNew();
        var model = ml.Transforms.TrainLatentDiffusion(new LatentDiffusionOptions
        {
            InputColumnName = "Features", LabelColumnName = labelled ? "Label" : null, Classes = 4, Denoiser = LatentDiffusion.Models.DenoiserKind.Mlp,
            Width = settings.Width, Depth = settings.Depth, Timesteps = settings.Timesteps, Schedule = objective.Schedule,
            Objective = objective.Target, Loss = objective.Loss, LossWeighting = objective.Weighting,
            Epochs = settings.Epochs, BatchSize = settings.BatchSize, EmaDecay = 0.99, Seed = settings.Seed, CancellationToken = token,
            Sampling = new SamplingOptions { Sampler = new DdimSampler { Steps = settings.Steps }, BatchSize = 1024 },
        }).Fit(train);
        return (model, clock.Elapsed.TotalSeconds);
    }

    private sealed record Check(double MeanError, double CovarianceError, double EnergyDistance, double? OnComponent = null);

    private double OnAnyComponent(float[] samples) =>
        Enumerable.Range(0, samples.Length / 4).Count(i => ToyData.NearestComponent(samples.AsSpan(4 * i,
            4)).Distance <= settings.ComponentTolerance) / (samples.Length / 4.0);

    private Check Compare(float[] samples, float[] truth, double[] std, int dims)
    {
        var (gm, gc) = PointCloudStatistics.Moments(samples, dims);
        var (tm, tc) = PointCloudStatistics.Moments(truth, dims);
        double meanError = Enumerable.Range(0, dims).Max(d => Math.Abs(gm[d] - tm[d]) / std[d]);
        double covarianceError = 0;
        for (int i = 0; i < dims; i++)
            for (int j = 0; j < dims; j++) covarianceError = Math.Max(covarianceError, Math.Abs(gc[i, j] - tc[i, j]) / (std[i] * std[j]));
        return new Check(meanError, covarianceError, PointCloudStatistics.EnergyDistance(Scaled(samples, std), Scaled(truth, std), dims));
    }

    private JsonObject Json(Objective objective, double seconds, LatentDiffusionTransformer model, Check check) => new()
    {
        ["objective"] = objective.Name, ["schedule"] = objective.Schedule.ToString(), ["seconds"] = seconds,
            ["finalTrainLoss"] = model.History.Epochs[^1].TrainLoss,
        ["meanError"] = check.MeanError, ["covarianceError"] = check.CovarianceError, ["energyDistance"] = check.EnergyDistance,
            ["onComponentShare"] = check.OnComponent,
        ["passes"] = check.MeanError <= settings.MaxMeanError && check.CovarianceError <= settings.MaxCovarianceError
            && check.EnergyDistance <= settings.MaxEnergyDistance
            && (check.OnComponent ?? 1) >= settings.MinComponentShare,
    };

    /// <summary>Class-conditional sampling on the labelled set: the share of points that land on the requested component, per guidance scale.</summary>
    private JsonObject Labelled(MLContext ml, IDataView train, CancellationToken token)
    {
        var results = new JsonObject();
        foreach (var objective in Objectives)
        {
            var (model, seconds) = Fit(ml, train, objective, labelled: true, token);
            var shares = new JsonObject();
            foreach (var scale in GuidanceScales)
            {
                var sampling = model.Sampling;
                sampling.GuidanceScale = scale;
                int perClass = settings.Samples / 4;
                var labels = Enumerable.Range(0, 4 * perClass).Select(i => i % 4).ToArray();
                var seeds = Enumerable.Range(0, labels.Length).Select(i => (long)(settings.Seed * 2_000_003L + i)).ToArray();
                var samples = model.WithSampling(sampling).Sample(labels, seeds);
                double share = labels.Select((label, i) => ToyData.NearestComponent(samples.AsSpan(4 * i, 4)))
                    .Zip(labels, (c, label) => c.Label == label && c.Distance <= settings.ComponentTolerance).Count(hit => hit) / (double)labels.Length;
                shares[scale.ToString("0.##", System.Globalization.CultureInfo.InvariantCulture)] = share;
                logger.LogInformation("Labelled moons and circles, {Objective}, guidance {Scale}: {Share:P1} of points on the requested component",
                    objective.Name, scale, share);
            }
            results[objective.Key] = new JsonObject { ["objective"] = objective.Name, ["seconds"] = seconds, ["componentShareByGuidance"] = shares };
        }
        return results;
    }

    private void Pictures(ToyDataSet set, IDataView train, List<(Objective Objective, float[] Samples, LatentDiffusionTransformer Model)> generated)
    {
        int dims = ToyData.Dimensions(set), n = 4000;
        var data = train.GetColumn<float[]>("Features").Take(n).SelectMany(v => v).ToArray();
        string title = set == ToyDataSet.Parabola ? "parabola" : "moons and circles";
        var pairs = set == ToyDataSet.Parabola ? new[] { (0, 1, "x", "y") } : [(0, 1, "moons x (+15)", "moons y (+15)"), (2, 3, "circles x", "circles y")];
        // Training points beside each objective's generated points (the same number of each), on shared axes per row.
        var panels = new List<ScatterPanel>();
        foreach (var (a, b, xName, yName) in pairs)
        {
            var clouds = new List<(string Title, float[] Rows, OxyColor Color)> { ($"{title}: training data", data, Plots.Data) };
            clouds.AddRange(generated.Select(g => ($"generated: {g.Objective.Name}", g.Samples[..(n * dims)], Plots.Generated)));
            var xRange = Range(clouds.Select(c => Column(c.Rows, dims, a)));
            var yRange = Range(clouds.Select(c => Column(c.Rows, dims, b)));
            panels.AddRange(clouds.Select(c => new ScatterPanel(c.Title, xName, yName,
                [new(c.Color == Plots.Data ? "data" : "generated", Column(c.Rows, dims, a), Column(c.Rows, dims, b), c.Color)], xRange, yRange)));
        }
        Plots.SaveScatterPanels(Path.Combine(outputDirectory, $"{Key(set)}.png"), panels, columns: 1 + generated.Count, panelWidth: 380, panelHeight: 360);

        // The denoising strip of the velocity model: the same 1000 points at six of the sampler's steps, from noise to data, on the axes of the noise.
        var model = generated.Single(g => g.Objective.Target == DiffusionObjective.Velocity).Model;
        int points = 1000;
        var trajectory = model.Trajectory(Enumerable.Repeat(-1, points).ToArray(), Enumerable.Range(0, points).Select(i => (long)i).ToArray());
        var picks = Enumerable.Range(0, 6).Select(k => (int)Math.Round(k * (trajectory.Length - 1) / 5.0)).ToArray();
        var (xa, ya, xLabel, yLabel) = pairs[0];
        var states = picks.Select(step => step == trajectory.Length - 1 ? trajectory[step].Predicted : trajectory[step].Noisy).ToList();
        var stripX = Range(states.Select(st => Column(st, dims, xa)));
        var stripY = Range(states.Select(st => Column(st, dims, ya)));
        var strip = picks.Select((step, k) => step == trajectory.Length - 1
            ? new ScatterPanel("sample (velocity model)", xLabel, yLabel, [new("sample", Column(states[k], dims, xa), Column(states[k], dims, ya),
                Plots.Generated)], stripX, stripY)
            : new ScatterPanel($"step {step + 1} of {trajectory.Length}: x_t", xLabel, yLabel, [new("x_t", Column(states[k], dims, xa), Column(states[k], dims,
                ya), Plots.Classes[0])], stripX, stripY)).ToList();
        Plots.SaveScatterPanels(Path.Combine(outputDirectory, $"{Key(set)}-denoising.png"), strip, columns: 6, panelWidth: 300, panelHeight: 300);
    }

    /// <summary>The range of all values, widened by 3% on each side.</summary>
    private static (double Min, double Max) Range(IEnumerable<float[]> columns)
    {
        var all = columns.SelectMany(c => c).ToArray();
        double low = all.Min(), high = all.Max(), pad = (high - low) * 0.03;
        return (low - pad, high + pad);
    }

    private static float[] Column(float[] rows, int dims, int d) => Enumerable.Range(0, rows.Length / dims).Select(i => rows[i * dims + d]).ToArray();

    private static double[] Std(float[] rows, int dims)
    {
        var (_, covariance) = PointCloudStatistics.Moments(rows, dims);
        return Enumerable.Range(0, dims).Select(d => Math.Sqrt(covariance[d, d])).ToArray();
    }

    private static float[] Scaled(float[] rows, double[] std) => rows.Select((v, i) => (float)(v / std[i % std.Length])).ToArray();
}
