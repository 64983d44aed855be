using System.Diagnostics;
using System.Text.Json.Nodes;
using LatentDiffusion.IO;
using LatentDiffusion.MLNet;
using LatentDiffusion.MLNet.Denoising;
using LatentDiffusion.MLNet.Generation;
using LatentDiffusion.Runtime;
using LatentDiffusion.Training;
using Microsoft.Extensions.Logging;
using Microsoft.ML;

namespace MnistLatentDiffusion.Jobs;

/// <summary>
/// The main job's few-step generator (issue 43): the class-conditional model's guidance distilled into its network on
/// the training latents, then the grid of a sampler within <see cref="RunSettings.FewStepPasses"/> network passes
/// learned against the model's own guided many-step samples on tuning requests (seeds <see cref="TuningSeed"/> + i,
/// never the held-out sets). Saved as fast.zip; its rows are measured with the others.
/// </summary>
/// <param name="settings">The run's sizes.</param>
/// <param name="outputDirectory">Where fast.zip goes.</param>
/// <param name="checkpointDirectory">Where the distillation checkpoints (null: none).</param>
/// <param name="resume">Whether to resume the distillation from its checkpoint.</param>
internal sealed class FewStepStage(RunSettings settings, string outputDirectory, string? checkpointDirectory, bool resume)
{
    /// <summary>Tuning request seeds of the grid search: 8,500,000 + i.</summary>
    public const long TuningSeed = 8_500_000;

    /// <summary>The fast generator, the stage's times, and the grid search's best grid per solver.</summary>
    public sealed record Result(DigitGeneratorTransformer Generator, double DistillationSeconds, double GridSeconds, JsonArray Solvers);

    public Result Run(MLContext ml, IDataView train, DigitGeneratorTransformer teacher, ComputeDevice device, ILogger logger,
        IProgress<TrainingProgress>? progress, CancellationToken token)
    {
        var vae = teacher.Vae!;
        var clock = Stopwatch.StartNew();
        var student = ml.Transforms.DistillGuidance(teacher.Diffusion, new GuidanceDistillationOptions
        {
            InputColumnName = vae.LatentColumnName, LabelColumnName = "Label", Epochs = settings.DistillationEpochs, Precision = settings.TrainingPrecision,
            Seed = settings.Seed, Device = device, Logger = logger, Progress = progress, CancellationToken = token,
            CheckpointDirectory = checkpointDirectory is null ? null : Path.Combine(checkpointDirectory, "distillation"), ResumeFromCheckpoint = resume,
        }).Fit(vae.Transform(train));
        double distillationSeconds = clock.Elapsed.TotalSeconds;
        clock.Restart();
        var requests = ml.Data.LoadFromEnumerable(Enumerable.Range(0, settings.FewStepTuningRequests)
            .Select(i => new GenerationRequest { Label = i % 10, Seed = TuningSeed + i }));
        var learner = ml.Transforms.LearnStepGrid(student, new StepGridOptions
        {
            MaxPasses = settings.FewStepPasses, Reference = teacher.Diffusion, Samplers = settings.FewStepSamplers, Logger = logger,
            CancellationToken = token,
        });
        var fast = learner.Fit(requests);
        double gridSeconds = clock.Elapsed.TotalSeconds;
        var solvers = new JsonArray([.. learner.Trials.GroupBy(t => t.Sampler.Name).Select(g => g.MinBy(t => t.Loss)!).Select(t => (JsonNode)new JsonObject
        {
            ["sampler"] = t.Sampler.Name, ["grid"] = new JsonArray([.. t.Sampler.Timesteps!.Select(v => (JsonNode)v)]), ["passes"] = t.Passes,
            ["distanceToTeacher"] = t.Loss, ["gridsTried"] = learner.Trials.Count(x => x.Sampler.Name == t.Sampler.Name),
        })]);
        var generator = ml.Transforms.GenerateDigits(fast, vae, new DigitGeneratorOptions { Sampling = fast.Sampling, Seed = settings.Seed })
            .Fit(ml.Data.LoadFromEnumerable(Array.Empty<GenerationRequest>()));
        AtomicFile.Write(Path.Combine(outputDirectory, "fast.zip"), s => ml.Model.Save(generator, train.Schema, s));
        logger.LogInformation("Few-step generator: {Sampler} on [{Grid}], {Passes} network passes per image; distillation {D:F0} s, grid {G:F0} s",
            fast.Sampling.Sampler.Name, string.Join(", ", fast.Sampling.Sampler.Timesteps!), fast.DenoiserPassesPerSample + fast.AutoguidancePassesPerSample,
            distillationSeconds, gridSeconds);
        return new Result(generator, distillationSeconds, gridSeconds, solvers);
    }
}
