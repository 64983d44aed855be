using LatentDiffusion.Diffusion.Guidance;
using LatentDiffusion.Models.Denoisers;
using LatentDiffusion.Training;
using Microsoft.Extensions.Logging;
using static TorchSharp.torch;

namespace LatentDiffusion.Diffusion;

/// <summary>
/// Guidance distillation (Meng et al. 2023, "On distillation of guided diffusion models", its first stage): a student
/// denoiser, started from the teacher's weights, learns to give in one pass the prediction the teacher's guidance gives
/// in several (classifier-free guidance's conditional and unconditional passes, autoguidance's second network), at the
/// teacher's saved guidance settings and in their noise bands. The target is computed by the core's own guidance rule
/// (<see cref="SamplingLoop.Guided{TArray}"/>), so the student learns exactly what sampling would have done. A
/// minibatch shares one timestep, as a sampling step does. The student samples with guidance off: half the passes or
/// fewer, for the teacher's samples.
/// </summary>
internal static class GuidanceDistillation
{
    /// <summary>
    /// Trains the student on <paramref name="samples"/> (rows of the teacher's data shape, and their labels for a
    /// conditional teacher) and returns it as a model without an autoguidance denoiser.
    /// </summary>
    public static DiffusionModel Fit(DiffusionModel teacher, SamplingOptions guidance, TrainingData samples, DiffusionTrainingSettings settings,
        TrainingRun run)
    {
        var plan = new GuidancePlan(guidance, teacher.Classes);
        run.Logger.LogInformation("Distilling the teacher's guidance ({Methods}) into one pass per step: {Rows} samples for {Epochs} epochs",
            string.Join(", ", plan.Methods.Select(m => m.GetType().Name)), samples.Rows, settings.Epochs);
        var schedule = teacher.Schedule;
        var objective = teacher.Config.Objective;
        var device = run.Device;

        Tensor Loss(Denoiser net, Tensor x0, Tensor? y, Generator generator)
        {
            long n = x0.shape[0];
            int step = (int)randint(0, schedule.Timesteps, [1], generator: generator, device: CPU).item<long>();
            var t = full([n], step, dtype: int64, device: device);
            var noise = randn(x0.shape, generator: generator, device: CPU).to(device);
            var xt = schedule.AddNoise(x0, noise, t);
            var labels = Distillation.Labels(net, y, n, settings.LabelDropout, generator, device);
            Tensor target;
            using (no_grad())
                target = SamplingLoop.Guided(new Distillation.TeacherEngine(teacher, guidance.Precision, labels), plan, new TorchArray(xt), step,
                    schedule.Timesteps).Value;
            var prediction = net.forward(xt, t, labels);
            target = target.to(prediction.dtype);
            return settings.Loss.Compute(objective, schedule, prediction, target, t);
        }

        return Distillation.Fit(teacher, samples, settings, run, "distillation", Loss);
    }
}
