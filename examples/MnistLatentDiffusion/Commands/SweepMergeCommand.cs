using System.CommandLine;
using MnistLatentDiffusion.Benchmarks;
using MnistLatentDiffusion.CommandLine;

namespace MnistLatentDiffusion.Commands;

/// <summary><c>sweep-merge</c>: one table, plot and report from several sweeps of one model and classifier.</summary>
internal static class SweepMergeCommand
{
    public static Command Create(CommonOptions common)
    {
        var reports = new Option<string>("--reports") { Description = "The sweeps' report.json files, comma-separated", Required = true };
        var output = CliOptions.Output("artifacts/sweep");
        var merge = new Command("sweep-merge", "One table, plot and report.json from several sweeps of the same model and classifier (for example, solvers "
            + "swept separately).") { reports, output, common.Verbose };
        merge.SetAction(Cli.Guarded(common.Verbose, (p, _) =>
        {
            var paths = p.GetValue(reports)!.Split(',').Select(f => PathChecks.ExistingFile(f, "--reports")).ToArray();
            string directory = PathChecks.WritableFolder(p.GetValue(output)!, "--out");
            using var logging = SavedModels.Logging(p.GetValue(common.Verbose));
            SolverSweep.Merge(paths, directory, logging.CreateLogger("sweep"));
            Console.WriteLine($"Merged {paths.Length} sweeps into {directory}");
            return Task.FromResult(0);
        }));
        return merge;
    }
}
