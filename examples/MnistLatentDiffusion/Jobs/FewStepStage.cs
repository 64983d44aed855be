using System.Diagnostics;
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
/// The main job's few-step generator (issue 43): the class-conditional model's guided sampling distilled into
/// <see cref="RunSettings.FewStepPasses"/> DDIM steps of a student network on the training latents
/// (<see cref="StepDistiller"/>: each student step learns where the guided teacher lands over its interval in
/// <see cref="RunSettings.FewStepSubsteps"/> DDIM steps), guidance included: one pass per step. Saved as fast.zip; its
/// rows are measured with the others.
/// </summary>
/// <param name="settings">The run's sizes.</param>
/// <param name="outputDirectory">Where fast.zip goes.</param>
/// <param name="checkpointDirectory">Where the distillation checkpoints (null: none).</param>
/// <param name="resume">Whether to resume the distillation from its checkpoint.</param>
internal sealed class FewStepStage(RunSettings settings, string outputDirectory, string? checkpointDirectory, bool resume)
{
    /// <summary>The fast generator, the guidance scale its teacher sampled with, and the stage's time.</summary>
    public sealed record Result(DigitGeneratorTransformer Generator, double TeacherGuidanceScale, double Seconds);

    public Result Run(MLContext ml, IDataView train, DigitGeneratorTransformer teacher, ComputeDevice device, ILogger logger,
        IProgress<TrainingProgress>? progress, CancellationToken token)
    {
        var vae = teacher.Vae!;
        var clock = Stopwatch.StartNew();
        var sampling = teacher.Diffusion.Sampling;
        if (settings.FewStepGuidanceScale is { } scale) sampling.GuidanceScale = scale;
        var fast = ml.Transforms.DistillSteps(teacher.Diffusion.WithSampling(sampling), new StepDistillationOptions
        {
            InputColumnName = vae.LatentColumnName, LabelColumnName = "Label", Steps = settings.FewStepPasses, TeacherSubsteps = settings.FewStepSubsteps,
            Epochs = settings.FewStepEpochs, Precision = settings.TrainingPrecision, Seed = settings.Seed, Device = device, Logger = logger,
            Progress = progress, CancellationToken = token,
            CheckpointDirectory = checkpointDirectory is null ? null : Path.Combine(checkpointDirectory, "distillation"), ResumeFromCheckpoint = resume,
        }).Fit(vae.Transform(train));
        var generator = ml.Transforms.GenerateDigits(fast, vae, new DigitGeneratorOptions { Sampling = fast.Sampling, Seed = settings.Seed })
            .Fit(ml.Data.LoadFromEnumerable(Array.Empty<GenerationRequest>()));
        AtomicFile.Write(Path.Combine(outputDirectory, "fast.zip"), s => ml.Model.Save(generator, train.Schema, s));
        double seconds = clock.Elapsed.TotalSeconds;
        logger.LogInformation("Few-step generator: DDIM on [{Grid}], {Passes} network passes per image, from the teacher at guidance {Scale}; {Seconds:F0} s",
            string.Join(", ", fast.Sampling.Sampler.Timesteps!), fast.DenoiserPassesPerSample + fast.AutoguidancePassesPerSample, sampling.GuidanceScale,
            seconds);
        return new Result(generator, sampling.GuidanceScale, seconds);
    }
}
