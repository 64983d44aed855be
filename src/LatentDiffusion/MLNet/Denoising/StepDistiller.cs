using LatentDiffusion.Diffusion;
using LatentDiffusion.Diffusion.Samplers;
using LatentDiffusion.Training;
using Microsoft.Extensions.Logging;
using Microsoft.ML.Runtime;

namespace LatentDiffusion.MLNet.Denoising;

/// <summary>
/// Distils a trained model's sampling into a few DDIM steps (issue 43): fitted on the data the teacher learned (for a
/// latent model, the VAE's latents, with the labels), it trains a student of the teacher's shape, started from its
/// weights, so that each step of deterministic DDIM on a grid of <see cref="StepDistillationOptions.Steps"/> timesteps
/// lands where the teacher's guided sampling lands over that interval in
/// <see cref="StepDistillationOptions.TeacherSubsteps"/> steps (progressive distillation's target, in one round). The
/// fitted transformer is the student with DDIM on that grid and guidance off: one network pass per step. Give it a
/// guidance-distilled teacher (<see cref="GuidanceDistiller"/>) for one teacher pass per substep, as Meng et al. do, or
/// the guided model itself. The teacher should predict velocity or the clean sample: an epsilon-predicting student
/// cannot express the first steps' targets (a warning says so).
/// </summary>
public sealed class StepDistiller : Distiller<StepDistillationOptions>
{
    /// <summary>Distils <paramref name="teacher"/>'s sampling into few steps; prefer <c>mlContext.Transforms.DistillSteps(teacher)</c>.</summary>
    public StepDistiller(IHostEnvironment? context, LatentDiffusionTransformer teacher, StepDistillationOptions? options = null)
        : base(context, teacher, options)
    {
    }

    /// <summary>
    /// The grid the student learns: <see cref="StepDistillationOptions.Timesteps"/>, or even steps ending one interval
    /// above the clean sample.
    /// </summary>
    public int[] Grid => Options.Timesteps is { } grid ? [.. grid] : StepDistillation.TrailingGrid(Teacher.Model.Schedule.Timesteps, Options.Steps);

    private protected override void CheckTeacher()
    {
        int timesteps = Teacher.Model.Schedule.Timesteps;
        if (Options.Timesteps is null && Options.Steps > timesteps)
            throw new ArgumentOutOfRangeException(nameof(StepDistillationOptions.Steps), Options.Steps,
                $"StepDistillationOptions.Steps must be at most the teacher's {timesteps} timesteps, got {Options.Steps}.");
        if (Options.Timesteps is { } grid)
            DiffusionSampler.CheckGrid(grid, timesteps, nameof(StepDistillationOptions.Timesteps), nameof(StepDistillationOptions));
    }

    private protected override (DiffusionModel Student, SamplingOptions Sampling) Distil(TrainingData samples, DiffusionTrainingSettings settings,
        TrainingRun run)
    {
        if (Teacher.Model.Config.Objective == DiffusionObjective.Epsilon)
            run.Logger.LogWarning("The teacher predicts the noise (DiffusionObjective.Epsilon): from the noisiest timesteps its student cannot express "
                + "the clean sample a step must land on (Salimans and Ho); a Velocity or Sample teacher distils to few steps far better");
        var student = StepDistillation.Fit(Teacher.Model, Teacher.Sampling, Grid, Options.TeacherSubsteps, samples, settings, run);
        var sampling = Unguided();
        sampling.Sampler = Sampler();
        return (student, sampling);
    }

    /// <summary>Deterministic DDIM on the grid the student learns.</summary>
    private DdimSampler Sampler() => new() { Timesteps = Grid, Steps = Grid.Length };
}
