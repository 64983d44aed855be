using System.CommandLine;
using System.Diagnostics;
using LatentDiffusion.Data;
using LatentDiffusion.Diffusion;
using LatentDiffusion.Diffusion.Samplers;
using LatentDiffusion.IO;
using LatentDiffusion.MLNet;
using LatentDiffusion.MLNet.Denoising;
using LatentDiffusion.MLNet.Generation;
using LatentDiffusion.Training;
using Microsoft.Extensions.Logging;
using Microsoft.ML;
using MnistLatentDiffusion.CommandLine;

namespace MnistLatentDiffusion.Commands;

/// <summary>
/// <c>distill</c>: a saved generator made fast. Its guidance is distilled into the network on the MNIST training images
/// (<see cref="GuidanceDistiller"/>); then either the student learns --passes DDIM steps itself (<see cref="StepDistiller"/>,
/// with --step-epochs) or the grid of a few-step sampler is learned for it against the original model's many-step samples
/// on tuning requests (<see cref="StepGridLearner"/>); the fast generator is saved.
/// </summary>
internal static class DistillCommand
{
    /// <summary>Tuning request seeds: 8,500,000 + i, apart from the main job's tuning and held-out seeds and evaluate's.</summary>
    public const long TuningSeed = 8_500_000;

    private sealed class Options
    {
        public Option<string> Model { get; } = CliOptions.Model();
        public Option<string> Output { get; } = new("--out") { Description = "Where to save the fast generator (a model zip)", Required = true };
        public Option<int> Passes { get; } = CliOptions.Integer("--passes", "Network passes per image the fast sampler may spend, guidance included", 4, 1,
            100);
        public Option<int> Epochs { get; } = CliOptions.Integer("--epochs", "Epochs of guidance distillation on the training images (0: keep the model's "
            + "guidance and learn the grid only)", 4, 0, 1000);
        public Option<int> Count { get; } = CliOptions.Integer("--count", "Tuning requests whose many-step samples are the target (class-balanced)", 512, 16,
            100_000);
        public Option<string> Samplers { get; } = CliOptions.List("--samplers", "Solvers whose grids are learned; the closest to the reference is kept",
            "unipc,dpmsolverplusplus2m,ipndm,ddim", name => SamplerRegistry.Find(name) is not null,
            $"sampler names ({string.Join(", ", SamplerRegistry.Names.Select(n => n.ToLowerInvariant()))})");
        public Option<int> StepEpochs { get; } = CliOptions.Integer("--step-epochs", "Epochs of step distillation after the guidance's: the student "
            + "learns --passes DDIM steps itself instead of a grid being learned for it (0: learn a grid)", 0, 0, 1000);
        public Option<int> Substeps { get; } = CliOptions.Integer("--substeps", "Teacher DDIM steps per student step in step distillation", 8, 1, 1000);
        public Option<int> TrainRows { get; } = CliOptions.Integer("--train-rows", "Training images the distillation uses (0: all 60,000)", 0, 0, 60_000);
    }

    public static Command Create(CommonOptions common)
    {
        var o = new Options();
        var command = new Command("distill", "Make a saved generator fast: distil its guidance into the network on the training images (--epochs), then "
            + "either distil --passes DDIM steps into it (--step-epochs) or learn the grid of timesteps within --passes network passes whose samples come "
            + "closest to the model's own many-step ones, and save it as a new model zip.")
            {
                o.Model, o.Output, o.Passes, o.Epochs, o.StepEpochs, o.Substeps, o.Count, o.Samplers, o.TrainRows, common.Guidance, common.Band,
                common.Autoguidance, common.AutoguidanceBand, common.Seed, common.Verbose,
            };
        command.SetAction(Cli.Guarded(common.Verbose, (p, token) => Task.FromResult(Run(p, o, common, token))));
        return command;
    }

    private static int Run(ParseResult p, Options o, CommonOptions common, CancellationToken token)
    {
        string path = PathChecks.WritableFile(p.GetValue(o.Output)!, "--out");
        var ml = SavedModels.Context();
        // The guidance flags change what the student learns: the teacher's guided prediction at those settings.
        var teacher = new SamplingFlags(Guidance: p.GetValue(common.Guidance), Band: p.GetValue(common.Band), Autoguidance: p.GetValue(common.Autoguidance),
            AutoguidanceBand: p.GetValue(common.AutoguidanceBand)).On(SavedModels.Generator(ml, p.GetValue(o.Model)!, "--model"));
        if (teacher.Vae is null) throw new CommandLineException("--model holds a pixel-space generator; distill takes a latent one (a run's model.zip).");
        using var logging = SavedModels.Logging(p.GetValue(common.Verbose));
        var log = logging.CreateLogger("distill");
        var clock = Stopwatch.StartNew();
        var images = ml.Data.LoadMnist(MnistSplit.Train);
        if (p.GetValue(o.TrainRows) is > 0 and var rows) images = ml.Data.TakeRows(images, rows);
        var student = Distil(ml, teacher, images, p.GetValue(o.Epochs), p.GetValue(common.Seed), log, token);
        int classes = teacher.Diffusion.Classes;
        var requests = ml.Data.LoadFromEnumerable(Enumerable.Range(0, p.GetValue(o.Count))
            .Select(i => new GenerationRequest { Label = classes > 0 ? i % classes : -1, Seed = TuningSeed + i }));
        var fast = p.GetValue(o.StepEpochs) is > 0 and var stepEpochs
            ? ml.Transforms.DistillSteps(student, new StepDistillationOptions
            {
                InputColumnName = teacher.Vae.LatentColumnName, LabelColumnName = classes > 0 ? "Label" : null, Steps = p.GetValue(o.Passes),
                TeacherSubsteps = p.GetValue(o.Substeps), Epochs = stepEpochs, Seed = p.GetValue(common.Seed), Precision = TrainingPrecisionOf(student),
                Logger = log, CancellationToken = token,
            }).Fit(teacher.Vae.Transform(images))
            : ml.Transforms.LearnStepGrid(student, new StepGridOptions
            {
                MaxPasses = p.GetValue(o.Passes), Reference = teacher.Diffusion, Logger = log, CancellationToken = token,
                Samplers = [.. p.GetValue(o.Samplers)!.Split(',').Select(SamplerRegistry.Create)],
            }).Fit(requests);
        var generator = ml.Transforms.GenerateDigits(fast, teacher.Vae, new DigitGeneratorOptions
        {
            Sampling = fast.Sampling, OutputColumnName = teacher.OutputColumnName,
        }).Fit(requests);
        AtomicFile.Write(path, s => ml.Model.Save(generator, requests.Schema, s));
        Console.WriteLine($"{SamplingFlags.Describe(fast.Sampling)}: {fast.DenoiserPassesPerSample + fast.AutoguidancePassesPerSample} network passes per "
            + $"image (the model's own {teacher.Diffusion.DenoiserPassesPerSample + teacher.Diffusion.AutoguidancePassesPerSample}); "
            + $"{clock.Elapsed.TotalSeconds:F0} s -> {path}");
        return 0;
    }

    /// <summary>The teacher's guidance distilled on the training images' latents, or the teacher itself with no epochs or no guidance to distil.</summary>
    private static LatentDiffusionTransformer Distil(MLContext ml, DigitGeneratorTransformer teacher, IDataView images, int epochs, int seed, ILogger log,
        CancellationToken token)
    {
        var diffusion = teacher.Diffusion;
        if (epochs == 0 || diffusion.AutoguidancePassesPerSample == 0 && diffusion.Sampling.GuidanceScale == 1) return diffusion;
        var vae = teacher.Vae!;
        return ml.Transforms.DistillGuidance(diffusion, new GuidanceDistillationOptions
        {
            InputColumnName = vae.LatentColumnName, LabelColumnName = diffusion.Classes > 0 ? "Label" : null, Epochs = epochs, Seed = seed,
            Precision = TrainingPrecisionOf(diffusion), Logger = log, CancellationToken = token,
        }).Fit(vae.Transform(images));
    }

    /// <summary>The student trains in the number format the teacher samples in.</summary>
    private static TrainingPrecision TrainingPrecisionOf(LatentDiffusionTransformer model) =>
        model.Sampling.Precision == SamplingPrecision.BFloat16 ? TrainingPrecision.BFloat16 : TrainingPrecision.Float32;
}
