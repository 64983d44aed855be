using System.CommandLine;
using System.Diagnostics;
using System.Text.Json.Nodes;
using LatentDiffusion.Data;
using LatentDiffusion.IO;
using LatentDiffusion.MLNet.Denoising;
using Microsoft.ML;
using Microsoft.ML.Data;
using MnistLatentDiffusion.Benchmarks;
using MnistLatentDiffusion.CommandLine;

namespace MnistLatentDiffusion.Commands;

/// <summary>
/// <c>cluster-agreement</c>: the self-labels the no-label model would train on (k-means of the training images' VAE
/// latents, <see cref="SelfLabeling"/>), for several cluster counts, against the true labels, which only this report
/// reads: purity, NMI, ARI and cluster sizes.
/// </summary>
internal static class ClusterAgreementCommand
{
    public static Command Create(CommonOptions common)
    {
        var model = CliOptions.Model();
        var counts = CliOptions.List("--clusters", "Cluster counts to measure, comma-separated", "10,20,40", name => int.TryParse(name, out int k) && k is >= 2
            and <= 1000, "integers in 2..1000");
        var json = new Option<string>("--json") { Description = "Where to write the results as JSON", DefaultValueFactory = _ => "cluster-agreement.json" };
        var command = new Command("cluster-agreement", "The self-labels of the no-label model (k-means of the training images' VAE latents) against the "
            + "true labels, which only this report reads: purity, NMI, adjusted Rand index and cluster sizes per cluster count.")
            { model, counts, json, common.Seed, common.Verbose };
        command.SetAction(Cli.Guarded(common.Verbose, (p, token) => Task.FromResult(Run(p.GetValue(model)!, p.GetValue(counts)!, p.GetValue(json)!,
            p.GetValue(common.Seed), token))));
        return command;
    }

    private static int Run(string modelPath, string counts, string json, int seed, CancellationToken token)
    {
        string path = PathChecks.WritableFile(json, "--json");
        var ml = SavedModels.Context();
        var generator = SavedModels.Generator(ml, modelPath, "--model");
        var vae = generator.Vae ?? throw new CommandLineException("--model holds a pixel-space generator; cluster-agreement needs a latent one.");
        var latents = vae.Transform(ml.Data.LoadMnist(MnistSplit.Train));
        var values = latents.GetColumn<float[]>(vae.LatentColumnName).SelectMany(v => v).ToArray();
        var labels = latents.GetColumn<int>("Label").ToArray();
        var results = new JsonArray();
        foreach (int k in counts.Split(',').Select(int.Parse))
        {
            token.ThrowIfCancellationRequested();
            var clock = Stopwatch.StartNew();
            var clusters = SelfLabeling.Clusters(values, labels.Length, [.. generator.Diffusion.DataShape], k, seed);
            double seconds = clock.Elapsed.TotalSeconds;
            var agreement = ClusterAgreement.Of(clusters, labels);
            var shares = clusters.GroupBy(c => c).Select(g => (double)g.Count() / labels.Length).ToArray();
            Console.WriteLine($"{k,5} clusters: purity {agreement.Purity:P1}, NMI {agreement.NormalizedMutualInformation:F3}, ARI "
                + $"{agreement.AdjustedRandIndex:F3}; shares {shares.Min():P1} to {shares.Max():P1}; {seconds:F1} s");
            results.Add(new JsonObject
            {
                ["clusters"] = k, ["purity"] = agreement.Purity, ["nmi"] = agreement.NormalizedMutualInformation, ["ari"] = agreement.AdjustedRandIndex,
                ["smallestShare"] = shares.Min(), ["largestShare"] = shares.Max(), ["seconds"] = seconds,
            });
        }
        var report = new JsonObject
        {
            ["model"] = modelPath, ["rows"] = labels.Length, ["latentShape"] = new JsonArray([.. generator.Diffusion.DataShape.Select(d => (JsonNode)d)]),
            ["seed"] = seed, ["results"] = results,
        };
        AtomicFile.WriteAllText(path, report.ToJsonString(SavedModels.Indented));
        Console.WriteLine($"Wrote {path}");
        return 0;
    }
}
