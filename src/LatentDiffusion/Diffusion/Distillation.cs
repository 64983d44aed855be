using LatentDiffusion.Diffusion.Guidance;
using LatentDiffusion.Models.Denoisers;
using LatentDiffusion.Training;
using static TorchSharp.torch;

namespace LatentDiffusion.Diffusion;

/// <summary>
/// What the distillations share: a student of the teacher's shape, started from its weights, trained on the rows the
/// teacher learned (standardised as the teacher standardises them) against targets the teacher computes, with a weight
/// average that is what samples, checkpoints and a validation loss, like every trainer here. Each distillation only
/// says what the student's loss is.
/// </summary>
internal static class Distillation
{
    /// <summary>
    /// One minibatch's loss of a student network (the training one, or its average for the validation loss): rows of
    /// standardised training data, their labels (null for an unconditional teacher) and the generator of the draws.
    /// </summary>
    public delegate Tensor StudentLoss(Denoiser student, Tensor x0, Tensor? labels, Generator generator);

    /// <summary>
    /// Trains a student of <paramref name="teacher"/>'s shape on <paramref name="samples"/> under <paramref name="loss"/>
    /// and returns it as a model without an autoguidance denoiser, with its history. <paramref name="stage"/> names the
    /// training loop in logs, progress and checkpoints.
    /// </summary>
    public static DiffusionModel Fit(DiffusionModel teacher, TrainingData samples, DiffusionTrainingSettings settings, TrainingRun run, string stage,
        StudentLoss loss)
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
        TrainingHistory history;
        using (var batches = data.TrainingBatches())
            history = run.Loop(stage, trainRows, settings.Epochs).Run(new LoopWork
            {
                Module = student, Batches = batches, Loss = (x, y, generator) => loss(student, x, y, generator),
                ValidationLoss = () => data.ValidationLoss((x, y, generator) => loss(ema, x, y, generator)),
                Average = new ExponentialMovingAverage(student, ema, settings.EmaDecay),
            }, run.CancellationToken);
        student.Dispose();
        return new DiffusionModel(config, ema, null, device) { History = history };
    }

    /// <summary>
    /// The labels a student is trained with: each row's own, or the null class where <paramref name="dropout"/> drops
    /// it (so the student also learns the unconditional prediction); all null classes without labels.
    /// </summary>
    public static Tensor Labels(Denoiser student, Tensor? labels, long rows, double dropout, Generator generator, Device device)
    {
        var nulls = full([rows], student.NullClass, dtype: int64, device: device);
        if (labels is null || student.Classes == 0) return nulls;
        var drop = (rand([rows], generator: generator, device: CPU) < dropout).to(device);
        return where(drop, nulls, labels);
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

    /// <summary>
    /// The teacher's networks for one minibatch of training rows: each row's own label (the null class where it was
    /// dropped) for a conditional prediction, the null class for an unconditional one. Training draws its own noise.
    /// </summary>
    public sealed class TeacherEngine(DiffusionModel teacher, SamplingPrecision precision, Tensor labels) : IDenoiserEngine<TorchArray>
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

        public TorchArray Noise() => throw new NotSupportedException("Distillation draws its training noise itself.");
    }
}
