using System.CommandLine;
using MnistLatentDiffusion.Benchmarks;
using MnistLatentDiffusion.CommandLine;

namespace MnistLatentDiffusion.Commands;

/// <summary><c>vae-variants</c>: autoencoder variants trained and scored side by side.</summary>
internal static class VaeVariantsCommand
{
    public static Command Create(CommonOptions common)
    {
        var classifier = new Option<string>("--classifier") { Description = "The FID classifier zip a run writes (classifier.zip)", Required = true };
        var output = CliOptions.Output("artifacts/vae-variants");
        var names = CliOptions.List("--variants", $"Autoencoders to train, comma-separated: {string.Join(", ", VaeVariants.Known.Keys)}", "plain,residual",
            VaeVariants.Known.ContainsKey, $"names from {string.Join(", ", VaeVariants.Known.Keys)}");
        var epochs = CliOptions.Integer("--epochs", "Training epochs of every variant", 8, 1, 1000);
        var count = CliOptions.Integer("--count", "Training images per scored block (3 blocks)", 10_000, 100, 20_000);
        var variants = new Command("vae-variants", "Autoencoder variants trained on the training split and scored side by side: reconstruction FID over the "
            + "floor, test MSE, latent spread, time; report.json, variants.md, reconstructions.png.")
            { classifier, output, names, epochs, count, common.Seed, common.Verbose };
        variants.SetAction(Cli.Guarded(common.Verbose, (p, token) =>
        {
            string directory = PathChecks.WritableFolder(p.GetValue(output)!, "--out");
            var ml = SavedModels.Context();
            var instrument = SavedModels.Classifier(ml, p.GetValue(classifier)!, "--classifier");
            using var logging = SavedModels.Logging(p.GetValue(common.Verbose));
            var report = new VaeVariants(ml, instrument, directory, logging.CreateLogger("vae-variants"))
                .Run(p.GetValue(names)!.Split(','), p.GetValue(epochs), p.GetValue(count), p.GetValue(common.Seed), token);
            Console.WriteLine($"{report["totalSeconds"]!.GetValue<double>():F0} s; wrote {directory}");
            return Task.FromResult(0);
        }));
        return variants;
    }
}
