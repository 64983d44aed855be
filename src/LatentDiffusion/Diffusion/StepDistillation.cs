using LatentDiffusion.Diffusion.Guidance;
using LatentDiffusion.Models.Denoisers;
using LatentDiffusion.Training;
using Microsoft.Extensions.Logging;
using static TorchSharp.torch;

namespace LatentDiffusion.Diffusion;

/// <summary>
/// Step distillation onto a fixed grid (the target of Salimans and Ho's "Progressive distillation", the second stage of
/// Meng et al.'s guided-model distillation, taken in one round from a many-step teacher): a student, started from the
/// teacher's weights, learns to make each step of deterministic DDIM on a grid of a few timesteps land where the
/// teacher's own sampling lands over the same interval in <c>substeps</c> DDIM steps of its guided prediction. A
/// training row is noised to the start of one interval of the grid (one interval per minibatch, as a sampling step
/// shares its timestep); the teacher walks the interval; the clean sample that would make the student's single DDIM
/// step land there, x~ = (z_s - (sigma_s / sigma_t) z_t) / (alpha_s - (sigma_s / sigma_t) alpha_t) (on the last
/// interval, the teacher's clean sample itself), is the target, with the truncated-SNR weight max(SNR_t, 1) on the x0
/// error. The student samples with DDIM on that grid: one pass per step.
/// </summary>
internal static class StepDistillation
{
    /// <summary>
    /// Trains the student on <paramref name="samples"/> for the DDIM grid <paramref name="grid"/> against
    /// <paramref name="teacherSampling"/>'s guidance and clipping, <paramref name="substeps"/> teacher steps per interval.
    /// </summary>
    public static DiffusionModel Fit(DiffusionModel teacher, SamplingOptions teacherSampling, int[] grid, int substeps, TrainingData samples,
        DiffusionTrainingSettings settings, TrainingRun run)
    {
        var plan = new GuidancePlan(teacherSampling, teacher.Classes);
        var schedule = teacher.Schedule;
        run.Logger.LogInformation("Distilling {Substeps} teacher steps per interval into one DDIM step on [{Grid}] ({Passes:F1} teacher passes per "
            + "interval on average, guidance included): {Rows} samples for {Epochs} epochs", substeps, string.Join(", ", grid),
            TeacherPasses(plan, schedule.Timesteps, grid, substeps), samples.Rows, settings.Epochs);
        var objective = teacher.Config.Objective;
        var device = run.Device;

        Tensor Loss(Denoiser net, Tensor x0, Tensor? y, Generator generator)
        {
            long n = x0.shape[0];
            int interval = (int)randint(0, grid.Length, [1], generator: generator, device: CPU).item<long>();
            int from = grid[interval], to = interval + 1 < grid.Length ? grid[interval + 1] : -1;
            var t = full([n], from, dtype: int64, device: device);
            var noise = randn(x0.shape, generator: generator, device: CPU).to(device);
            var xt = schedule.AddNoise(x0, noise, t);
            var labels = Distillation.Labels(net, y, n, settings.LabelDropout, generator, device);
            Tensor target;
            using (no_grad())
            {
                var denoise = SamplingLoop.Denoiser(new Distillation.TeacherEngine(teacher, teacherSampling.Precision, labels), teacher.Process, schedule,
                    teacherSampling, plan);
                var landing = Walk(schedule, denoise, new TorchArray(xt), from, to, substeps).Value;
                target = to < 0 ? landing : CleanSampleFor(schedule, xt, landing, from, to);
            }
            var prediction = new TorchArray(net.forward(xt, t, labels).to(float32));
            var x0Student = schedule.Interpret(objective, prediction, new TorchArray(xt), from).X0.Value;
            double weight = Math.Max(schedule.AlphaBar(from) / (1 - schedule.AlphaBar(from)), 1);
            return weight * (x0Student - target.to(float32)).square().mean();
        }

        return Distillation.Fit(teacher, samples, settings, run, "step-distillation", Loss);
    }

    /// <summary>
    /// The default grid of <paramref name="steps"/> DDIM steps on <paramref name="timesteps"/>: evenly spaced, ending
    /// one interval above the clean sample ("trailing" spacing: T-1, T-1 - T/steps, ...), so no step is spent below the
    /// smallest interval.
    /// </summary>
    public static int[] TrailingGrid(int timesteps, int steps) =>
        [.. Enumerable.Range(0, steps).Select(i => (int)Math.Round((double)timesteps * (steps - i) / steps) - 1)];

    /// <summary>The teacher's deterministic DDIM walk from <paramref name="from"/> to <paramref name="to"/> (-1: the clean sample) in even substeps.</summary>
    private static TorchArray Walk(NoiseSchedule schedule, Samplers.DenoiseFunction<TorchArray> denoise, TorchArray x, int from, int to, int substeps)
    {
        for (int j = 0; j < substeps; j++)
        {
            int u = Substep(from, to, substeps, j), v = Substep(from, to, substeps, j + 1);
            if (u == v) continue;
            var (x0, eps) = denoise(x, u);
            x = Math.Sqrt(schedule.AlphaBar(v)) * x0 + Math.Sqrt(1 - schedule.AlphaBar(v)) * eps;
        }
        return x;
    }

    /// <summary>The teacher's network passes per interval of the grid, averaged over the intervals: each substep's guidance keys.</summary>
    private static double TeacherPasses(GuidancePlan plan, int timesteps, int[] grid, int substeps)
    {
        int passes = 0;
        for (int i = 0; i < grid.Length; i++)
        {
            int from = grid[i], to = i + 1 < grid.Length ? grid[i + 1] : -1;
            for (int j = 0; j < substeps; j++)
                if (Substep(from, to, substeps, j) is var u && u != Substep(from, to, substeps, j + 1)) passes += plan.KeysAt(u, timesteps).Count;
        }
        return (double)passes / grid.Length;
    }

    private static int Substep(int from, int to, int substeps, int j) => (int)Math.Round(from - (double)(from - to) * j / substeps);

    /// <summary>
    /// The clean sample whose DDIM step from <paramref name="xt"/> at <paramref name="from"/> lands on <paramref
    /// name="xs"/> at <paramref name="to"/>.
    /// </summary>
    private static Tensor CleanSampleFor(NoiseSchedule schedule, Tensor xt, Tensor xs, int from, int to)
    {
        double ratio = schedule.Sigma(to) / schedule.Sigma(from);
        return (xs - ratio * xt) / (schedule.Alpha(to) - ratio * schedule.Alpha(from));
    }
}
