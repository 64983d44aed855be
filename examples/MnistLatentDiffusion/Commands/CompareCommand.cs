using System.CommandLine;
using System.Globalization;
using MnistLatentDiffusion.Benchmarks;
using MnistLatentDiffusion.CommandLine;

namespace MnistLatentDiffusion.Commands;

/// <summary><c>compare</c>: latent against pixel diffusion under equal wall-clock training budgets.</summary>
internal static class CompareCommand
{
    public static Command Create(CommonOptions common)
    {
        var budgets = CliOptions.List("--budgets", "Training budgets in minutes, comma-separated", "5,10,20",
            t => double.TryParse(t, NumberStyles.Float, CultureInfo.InvariantCulture, out double v) && v > 0 && v <= 24 * 60,
            "minutes above 0 (at most a day), for example 5,10,20");
        var samples = CliOptions.Integer("--samples", "Generated images per run, and reference images for FID", 2000, 10, 100_000);
        var output = CliOptions.Output("artifacts/latent-vs-pixel");
        var compare = new Command("compare", "Latent against pixel diffusion under equal wall-clock training budgets: FID, accuracy and speed of each, "
            + "report.json and fid-vs-time.png.") { budgets, samples, output, common.Seed, common.Verbose };
        compare.SetAction(Cli.Guarded(common.Verbose, (p, token) =>
        {
            string directory = PathChecks.WritableFolder(p.GetValue(output)!, "--out");
            using var logging = SavedModels.Logging(p.GetValue(common.Verbose));
            var minutes = p.GetValue(budgets)!.Split(',').Select(t => double.Parse(t, CultureInfo.InvariantCulture)).ToArray();
            var report = new PathsBenchmark(minutes, p.GetValue(samples), p.GetValue(common.Seed), directory, logging.CreateLogger("compare")).Run(token);
            Console.WriteLine($"{report["totalSeconds"]!.GetValue<double>():F0} s; wrote {directory}");
            return Task.FromResult(0);
        }));
        return compare;
    }
}
