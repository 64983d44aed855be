using System.CommandLine;
using MnistLatentDiffusion.CommandLine;
using MnistLatentDiffusion.Jobs;

namespace MnistLatentDiffusion.Commands;

/// <summary><c>toy</c>: seed 001's point clouds.</summary>
internal static class ToyCommand
{
    public static Command Create(CommonOptions common)
    {
        var output = CliOptions.Output("artifacts/toy");
        var epochs = CliOptions.Integer("--epochs", "Training epochs per model", new ToySettings().Epochs, 1, 10_000);
        var rows = CliOptions.Integer("--rows", "Training rows per set (seed 001: 131072)", new ToySettings().Rows, 100, 10_000_000);
        var toy = new Command("toy", "Seed 001's point clouds: an MLP denoiser per set and objective, checks against the true distributions, scatter plots, "
            + "denoising strips, report.json.") { output, epochs, rows, common.Seed, common.Verbose };
        toy.SetAction(Cli.Guarded(common.Verbose, (p, token) =>
        {
            string directory = PathChecks.WritableFolder(p.GetValue(output)!, "--out");
            using var logging = SavedModels.Logging(p.GetValue(common.Verbose));
            var settings = new ToySettings { Epochs = p.GetValue(epochs), Rows = p.GetValue(rows), Seed = p.GetValue(common.Seed) };
            var report = new ToyJob(settings, directory, logging.CreateLogger("toy")).Run(token);
            Console.WriteLine($"{report["totalSeconds"]!.GetValue<double>():F0} s; wrote {directory}");
            return Task.FromResult(0);
        }));
        return toy;
    }
}
