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
    public static (DiffusionModel Student, TrainingHistory History) Fit(DiffusionModel teacher, SamplingOptions guidance, TrainingData samples,
        DiffusionTrainingSettings settings, TrainingRun run)
    {
        var config = teacher.Config with { Autoguidance = null };
        var device = run.Device;
        var student = DenoiserNetworks.Create(config.Denoiser, device);
        var ema = DenoiserNetworks.Create(config.Denoiser, device);
        using (no_grad())
        {
            student.load_state_dict(teacher.Denoiser.state_dict());
            ema.load_state_dict(teacher.Denoiser.state_dict());
        }
        var (trainRows, validationRows) = TrainingRun.Split(samples.Rows, settings.ValidationFraction);
        var data = new DiffusionData(samples, config.Denoiser.DataShape, trainRows, validationRows, Standardisation(config), device);
        var plan = new GuidancePlan(guidance, teacher.Classes);
        run.Logger.LogInformation("Distilling the teacher's guidance ({Methods}) into one pass per step: {Rows} samples for {Epochs} epochs",
            string.Join(", ", plan.Methods.Select(m => m.GetType().Name)), trainRows, settings.Epochs);
        TrainingHistory history;
        using (var batches = data.TrainingBatches())
            history = Train(teacher, plan, guidance.Precision, student, ema, batches, data, settings, run.Loop("distillation", trainRows, settings.Epochs),
                run.CancellationToken);
        student.Dispose();
        return (new DiffusionModel(config, ema, null, device) { History = history }, history);
    }

    /// <summary>The teacher's own standardisation, applied to each row as it is read (none when the teacher has none).</summary>
    private static Action<Span<float>>? Standardisation(DiffusionModelConfig config)
    {
        if (config.DataShift.Length == 0) return null;
        float[] shift = config.DataShift, scale = config.DataScale;
        return row =>
        {
            int inner = row.Length / shift.Length;
            for (int i = 0; i < row.Length; i++) row[i] = (row[i] - shift[i / inner]) / scale[i / inner];
        };
    }

    private static TrainingHistory Train(DiffusionModel teacher, GuidancePlan plan, SamplingPrecision precision, Denoiser student, Denoiser ema,
        IBatchSource batches,
        DiffusionData data, DiffusionTrainingSettings settings, MinibatchLoop loop, CancellationToken cancellationToken)
    {
        var schedule = teacher.Schedule;
        var objective = teacher.Config.Objective;
        var device = loop.Settings.Device;

        Tensor Loss(Denoiser net, Tensor x0, Tensor? y, Generator generator)
        {
            long n = x0.shape[0];
            int step = (int)randint(0, schedule.Timesteps, [1], generator: generator, device: CPU).item<long>();
            var t = full([n], step, dtype: int64, device: device);
            var noise = randn(x0.shape, generator: generator, device: CPU).to(device);
            var xt = schedule.AddNoise(x0, noise, t);
            var labels = full([n], net.NullClass, dtype: int64, device: device);
            if (y is not null && net.Classes > 0)
            {
                var drop = (rand([n], generator: generator, device: CPU) < settings.LabelDropout).to(device);
                labels = where(drop, labels, y);
            }
            Tensor target;
            using (no_grad())
                target = SamplingLoop.Guided(new TeacherEngine(teacher, precision, labels), plan, new TorchArray(xt), step, schedule.Timesteps).Value;
            var prediction = net.forward(xt, t, labels);
            target = target.to(prediction.dtype);
            return settings.Loss.Compute(objective, schedule, prediction, target, t);
        }

        return loop.Run(new LoopWork
        {
            Module = student, Batches = batches, Loss = (x, y, generator) => Loss(student, x, y, generator),
            ValidationLoss = () => data.ValidationLoss((x, y, generator) => Loss(ema, x, y, generator)),
            Average = new ExponentialMovingAverage(student, ema, settings.EmaDecay),
        }, cancellationToken);
    }

    /// <summary>
    /// The teacher's networks for one minibatch of training rows: each row's own label (the null class where it was
    /// dropped) for a conditional prediction, the null class for an unconditional one. Training draws its own noise.
    /// </summary>
    private sealed class TeacherEngine(DiffusionModel teacher, SamplingPrecision precision, Tensor labels) : IDenoiserEngine<TorchArray>
    {
        public IReadOnlyList<TorchArray> Predict(DenoiserRole network, TorchArray x, int t, IReadOnlyList<bool> conditional)
        {
            var denoiser = teacher.Network(network, precision);
            long n = x.Value.shape[0];
            var tt = full([n], t, dtype: int64, device: x.Value.device);
            var nulls = full([n], denoiser.NullClass, dtype: int64, device: x.Value.device);
            int copies = conditional.Count;
            var outputs = denoiser.forward(cat(Enumerable.Repeat(x.Value, copies).ToArray()), cat(Enumerable.Repeat(tt, copies).ToArray()),
                cat(conditional.Select(c => c ? labels : nulls).ToArray())).chunk(copies);
            return [.. outputs.Select(o => new TorchArray(o))];
        }

        public TorchArray Noise() => throw new NotSupportedException("Guidance distillation draws its training noise itself.");
    }
}
