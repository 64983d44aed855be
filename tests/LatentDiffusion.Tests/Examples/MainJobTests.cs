using System.Text.Json.Nodes;
using LatentDiffusion.Diffusion.Samplers;
using LatentDiffusion.MLNet.Evaluation;
using LatentDiffusion.MLNet.Generation;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.ML;
using MnistLatentDiffusion.Benchmarks;
using MnistLatentDiffusion.Jobs;

namespace LatentDiffusion.Tests.Examples;

[Trait("Data", "MNIST")]
public class MainJobTests
{
    [Fact]
    public void Guidance_is_the_lowest_fid_among_the_settings_that_reach_the_accuracy_floor()
    {
        GuidanceChoice a = new(2.25, 0.5, 0.7), b = new(3, 0.4, 0.8), c = new(4, 0.5, 0.7);
        var (chosen, unconstrained, rule) = MainJob.ChooseGuidance([(a, 0.56, 0.981), (b, 0.89, 0.994), (c, 0.70, 0.990)], 0.99);
        Assert.Equal(c, chosen);
        Assert.Equal(a, unconstrained);
        Assert.Contains("would give FID 0.560", rule);
        // No setting reaches the floor: the lowest FID, and the rule says why.
        (chosen, unconstrained, rule) = MainJob.ChooseGuidance([(a, 0.56, 0.981), (b, 0.89, 0.985)], 0.99);
        Assert.Equal(a, chosen);
        Assert.Equal(a, unconstrained);
        Assert.Contains("no setting reached", rule);
    }

    [Fact]
    public async Task The_smallest_preset_runs_end_to_end_and_writes_every_file()
    {
        string folder = Directory.CreateTempSubdirectory("ld-mainjob-").FullName;
        try
        {
            var report = await new MainJob(RunSettings.For("smoke"), folder).RunAsync(NullLogger.Instance);

            foreach (var file in new[] { "model.zip", "fast.zip", "classifier.zip", "unconditional.zip", "samples.png", "unconditional.png", "progression.png", "loss.png", "report.json", "report.md" })
                Assert.True(new FileInfo(Path.Combine(folder, file)).Length > 0, file);
            var json = JsonNode.Parse(File.ReadAllText(Path.Combine(folder, "report.json")))!;
            foreach (var key in new[] { "validation", "random", "vae", "diffusion", "unconditionalModel", "vaeReconstruction" })
            {
                Assert.True(double.IsFinite(json["fid"]![key]!.GetValue<double>()), key);
                // Every row is a mean over named sets, with its spread: three held-out request sets, six floor blocks.
                var row = json["rows"]![key]!;
                int sets = key == "validation" ? 6 : 3;
                Assert.Equal(sets, row["sets"]!.AsArray().Count);
                Assert.Equal(sets, row["fid"]!["values"]!.AsArray().Count);
                Assert.Equal(row["fid"]!["values"]!.AsArray().Average(v => v!.GetValue<double>()), row["fid"]!["mean"]!.GetValue<double>(), 9);
                Assert.True(row["fid"]!["std"]!.GetValue<double>() > 0, key);
            }
            Assert.Equal(3, json["rows"]!["diffusion"]!["accuracy"]!["values"]!.AsArray().Count);
            Assert.Null(json["rows"]!["unconditionalModel"]!["accuracy"]);
            // The unconditional model was trained without labels, conditioned on its own 4 clusters (issue 44); its guidance
            // scale, then its autoguidance scale, chosen on the tuning set among those tried.
            var unconditional = (DigitGeneratorTransformer)TestContext().Model.Load(Path.Combine(folder, "unconditional.zip"), out _);
            Assert.Equal(4, unconditional.Diffusion.Classes);
            Assert.Equal(4, unconditional.Diffusion.Config.ClusterShares!.Length);
            var tried = json["unconditionalModel"]!["tuning"]!.AsArray();
            Assert.Equal(4, tried.Count);
            double Fid(JsonNode? t) => t!["fid"]!.GetValue<double>();
            Assert.Equal(tried.Take(2).MinBy(Fid)!["guidanceScale"]!.GetValue<double>(), json["unconditionalModel"]!["guidanceScale"]!.GetValue<double>());
            Assert.Equal(tried.Skip(2).MinBy(Fid)!["autoguidanceScale"]!.GetValue<double>(), json["unconditionalModel"]!["autoguidanceScale"]!.GetValue<double>());
            // The few-step generator (issue 43): the guided model's sampling distilled into the smoke preset's 2 DDIM steps, saved as fast.zip.
            var fast = (DigitGeneratorTransformer)TestContext().Model.Load(Path.Combine(folder, "fast.zip"), out _);
            Assert.Equal(2, fast.Diffusion.DenoiserPassesPerSample + fast.Diffusion.AutoguidancePassesPerSample);
            Assert.Equal("Ddim", json["fewStep"]!["sampler"]!.GetValue<string>());
            Assert.Equal(json["fewStep"]!["grid"]!.AsArray().Select(v => v!.GetValue<int>()), fast.Diffusion.Sampling.Sampler.Timesteps!);
            Assert.Equal(3, json["rows"]!["fewStep"]!["fid"]!["values"]!.AsArray().Count);
            // unconditional.zip samples with the chosen scale (it was saved before the choice until issue 31's session).
            Assert.Equal(json["unconditionalModel"]!["autoguidanceScale"]!.GetValue<double>(), unconditional.Diffusion.Sampling.AutoguidanceScale);
            Assert.Equal("Normalized", json["classifier"]!["kind"]!.GetValue<string>());
            // The conditional model's guidance is chosen the same way, and model.zip samples with the choice.
            var guidance = json["sampler"]!["tuning"]!.AsArray();
            Assert.Equal(2, guidance.Count);
            // The lowest FID among the settings that reach 99% accuracy, else the lowest FID (a smoke model reaches no such accuracy).
            var accurate = guidance.Where(t => t!["accuracy"]!.GetValue<double>() >= 0.99).ToList();
            var best = (accurate.Count > 0 ? accurate : guidance.ToList()).MinBy(t => t!["fid"]!.GetValue<double>())!;
            Assert.False(string.IsNullOrEmpty(json["sampler"]!["chosenBy"]!.GetValue<string>()));
            Assert.Equal(best["guidanceScale"]!.GetValue<double>(), json["sampler"]!["guidanceScale"]!.GetValue<double>());
            // model.zip holds the generator alone: the diffusion model and the VAE it decodes with are inside it.
            var saved = (DigitGeneratorTransformer)TestContext().Model.Load(Path.Combine(folder, "model.zip"), out _);
            Assert.NotNull(saved.Vae);
            var savedSampling = saved.Diffusion.Sampling;
            Assert.Equal((best["guidanceScale"]!.GetValue<double>(), best["guidanceMinNoise"]!.GetValue<double>(), best["guidanceMaxNoise"]!.GetValue<double>()),
                (savedSampling.GuidanceScale, savedSampling.GuidanceMinNoise, savedSampling.GuidanceMaxNoise));
            Assert.InRange(json["classifier"]!["testAccuracy"]!.GetValue<double>(), 0, 1);
            Assert.True(json["throughput"]!["generationImagesPerSecond"]!.GetValue<double>() > 0);
            var markdown = File.ReadAllText(Path.Combine(folder, "report.md"));
            foreach (var seed in new[] { "48.43", "63.49", "6.02", "0.30" }) Assert.Contains(seed, markdown);
            // The report explains itself: what the seed column is, the floor, KID's unit, and the targets met or not.
            foreach (var words in new[] { "seed documents 000/004", "The floor is what real digits score", "not scaled by 1000", "## What was tuned on what", "held-out", "## Targets",
                "| whole run <= 30 minutes (seconds) |", "| unconditional model FID <= 1.6x the floor |", "| VAE reconstructions FID <= 1.2x the floor |" })
                Assert.Contains(words, markdown);
            Assert.Equal("smoke", report["preset"]!.GetValue<string>());

            // The solver sweep on the same model: every row over its held-out sets, guidance tuned per solver.
            var ml = TestContext();
            var sweepSettings = new SweepSettings
            {
                Solvers = [new DdimSampler(), new HeunSampler()], Evaluations = [5], TuneEvaluations = 5,
                TuneCount = 100, Count = 100, Sets = 2, GuidanceScales = [1.5], Bands = [new(0, 0.3, 0.9)],
            };
            var sweepFolder = Directory.CreateDirectory(Path.Combine(folder, "sweep")).FullName;
            var generator = (DigitGeneratorTransformer)ml.Model.Load(Path.Combine(folder, "model.zip"), out _);
            var classifier = (FidEvaluatorTransformer)ml.Model.Load(Path.Combine(folder, "classifier.zip"), out _);
            var sweep = new SolverSweep(ml, generator, classifier, sweepSettings, sweepFolder, NullLogger.Instance).Run(CancellationToken.None);
            var rows = sweep["rows"]!.AsArray();
            Assert.Equal(["saved setting", "Ddim 5", "Heun 5"], rows.Select(r => r!["name"]!.GetValue<string>()));
            Assert.All(rows, r => Assert.Equal(2, r!["fid"]!["values"]!.AsArray().Count));
            Assert.Equal(3, rows[2]!["steps"]!.GetValue<int>());   // Heun: 3 steps, 5 evaluations
            Assert.All(rows, r => Assert.True(r!["passes"]!.GetValue<int>() >= r["evaluations"]!.GetValue<int>()));
            Assert.Equal(4, sweep["tuning"]!.AsArray().Count);      // per solver: one scale and band, autoguidance on and off
            Assert.Contains(sweep["recommended"]!["name"]!.GetValue<string>(), rows.Select(r => r!["name"]!.GetValue<string>()));
            foreach (var file in new[] { "report.json", "sweep.md", "fid-vs-evaluations.png" })
                Assert.True(new FileInfo(Path.Combine(sweepFolder, file)).Length > 0, file);
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }

    private static Microsoft.ML.MLContext TestContext()
    {
        var ml = new Microsoft.ML.MLContext(1);
        ml.ComponentCatalog.RegisterLatentDiffusion();
        return ml;
    }
}
