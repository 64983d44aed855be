using System.CommandLine;
using System.Globalization;
using LatentDiffusion.Diffusion.Samplers;
using MnistLatentDiffusion.Benchmarks;
using MnistLatentDiffusion.CommandLine;

namespace MnistLatentDiffusion.Commands;

/// <summary><c>sweep</c>: every sampler at several evaluation budgets on a saved model.</summary>
internal static class SweepCommand
{
    public static Command Create(CommonOptions common)
    {
        var model = CliOptions.Model();
        var classifier = new Option<string>("--classifier") { Description = "The FID classifier zip a run writes (classifier.zip)", Required = true };
        var output = CliOptions.Output("artifacts/sweep");
        var count = CliOptions.Integer("--count", "Requests per held-out set (and training digits per floor block)", 5_000, 100, 60_000 / 3);
        var sets = CliOptions.Integer("--sets", "Held-out request sets per setting", 3, 2, 10);
        var tune = CliOptions.Integer("--tune-count", "Requests in the tuning set", 2_000, 100, 10_000);
        var evaluations = CliOptions.List("--evaluations", "Sampler evaluations per image to measure, comma-separated", "5,8,10,15,20,50",
            t => int.TryParse(t, NumberStyles.Integer, CultureInfo.InvariantCulture, out int v) && v is >= 1 and <= 1000,
            "whole numbers in 1..1000, for example 5,10,20");
        var solvers = CliOptions.List("--solvers", "Samplers to sweep, comma-separated", string.Join(",",
            SolverSweep.Solvers.Select(s => s.Name.ToLowerInvariant())),
            t => SamplerRegistry.Find(t) is not null, $"sampler names from {string.Join(", ", SamplerRegistry.Names.Select(n => n.ToLowerInvariant()))}");
        var sweep = new Command("sweep",
            "Every sampler at several evaluation budgets on a saved model: guidance tuned per solver, FID and accuracy on held-out "
            + "sets, images/s, report.json, sweep.md, fid-vs-evaluations.png.") { model, classifier, output, count, sets, tune, evaluations, solvers,
                common.Verbose };
        sweep.SetAction(Cli.Guarded(common.Verbose, (p, token) =>
        {
            string directory = PathChecks.WritableFolder(p.GetValue(output)!, "--out");
            string classifierFile = PathChecks.ExistingFile(p.GetValue(classifier)!, "--classifier");
            var ml = SavedModels.Context();
            var generator = SavedModels.Generator(ml, p.GetValue(model)!, "--model");
            var instrument = SavedModels.Classifier(ml, classifierFile, "--classifier");
            using var logging = SavedModels.Logging(p.GetValue(common.Verbose));
            var settings = new SweepSettings
            {
                Count = p.GetValue(count), Sets = p.GetValue(sets), TuneCount = p.GetValue(tune),
                Evaluations = p.GetValue(evaluations)!.Split(',').Select(t => int.Parse(t, CultureInfo.InvariantCulture)).ToArray(),
                Solvers = p.GetValue(solvers)!.Split(',').Select(SamplerRegistry.Create).ToArray(),
            };
            var report = new SolverSweep(ml, generator, instrument, settings, directory, logging.CreateLogger("sweep")).Run(token);
            Console.WriteLine($"{report["totalSeconds"]!.GetValue<double>():F0} s; wrote {directory}");
            return Task.FromResult(0);
        }));
        return sweep;
    }
}
