using System.CommandLine;
using MnistLatentDiffusion.CommandLine;
using MnistLatentDiffusion.Jobs;

namespace MnistLatentDiffusion.Commands;

/// <summary><c>colour</c>: colour images through ImageAnalytics, end to end.</summary>
internal static class ColourCommand
{
    public static Command Create(CommonOptions common)
    {
        var output = CliOptions.Output("artifacts/colour");
        var colour = new Command("colour", "Colour images through ImageAnalytics: writes coloured shapes as PNGs, trains a VAE and a diffusion model on them, "
            + "writes a colour sample grid and report.json.") { output, common.Seed, common.Verbose };
        colour.SetAction(Cli.Guarded(common.Verbose, (p, token) =>
        {
            string directory = PathChecks.WritableFolder(p.GetValue(output)!, "--out");
            using var logging = SavedModels.Logging(p.GetValue(common.Verbose));
            var report = new ColourJob(directory, p.GetValue(common.Seed), logging.CreateLogger("colour")).Run(token);
            Console.WriteLine($"{report["totalSeconds"]!.GetValue<double>():F0} s; wrote {directory}");
            return Task.FromResult(0);
        }));
        return colour;
    }
}
