using LatentDiffusion.Training;
using static TorchSharp.torch;

namespace LatentDiffusion.Diffusion;

/// <summary>
/// A diffusion model's training rows as its training loops read them: the first rows in shuffled minibatches, the last
/// as validation chunks, each row standardised as the model's config says, on the training device.
/// </summary>
/// <param name="samples">The rows (and their labels, when the model is conditional).</param>
/// <param name="shape">The shape of one row.</param>
/// <param name="trainRows">Rows trained on: the first ones.</param>
/// <param name="validationRows">Rows of the validation loss: the ones after them.</param>
/// <param name="standardise">Standardises one row in place; null: rows are used as they come.</param>
/// <param name="device">Where the tensors go.</param>
internal sealed class DiffusionData(TrainingData samples, int[] shape, int trainRows, int validationRows, Action<Span<float>>? standardise, Device device)
{
    private readonly long[] rowShape = shape.Select(d => (long)d).ToArray();

    public int TrainRows => trainRows;

    public int ValidationRows => validationRows;

    /// <summary>The training rows' minibatches (the caller disposes them).</summary>
    public IBatchSource TrainingBatches() => samples.Batches(trainRows, rowShape, device, standardise);

    /// <summary>The validation rows in chunks of 512, in input order, made as they are read (one chunk in memory).</summary>
    public IEnumerable<(Tensor X, Tensor? Y)> ValidationChunks()
    {
        foreach (var chunk in samples.Chunks(trainRows, validationRows, 512))
        {
            if (standardise is not null)
                for (int r = 0; r < chunk.Rows; r++) standardise(chunk.Values.AsSpan(r * samples.Size, samples.Size));
            yield return (tensor(chunk.Values, [chunk.Rows, .. rowShape], device: device),
                chunk.Labels is null ? null : tensor(chunk.Labels.Select(l => (long)l).ToArray(), device: device));
        }
    }

    /// <summary>
    /// The mean of <paramref name="loss"/> over the validation rows, with fixed timesteps and noise (a generator seeded
    /// 12345) so that the curve measures the model and not the draw; NaN without validation rows. One dispose scope per
    /// chunk: memory stays that of one chunk.
    /// </summary>
    public double ValidationLoss(Func<Tensor, Tensor?, Generator, Tensor> loss)
    {
        if (validationRows == 0) return double.NaN;
        using var generator = new Generator(12345, CPU);
        using var _ = no_grad();
        double total = 0;
        using var chunks = ValidationChunks().GetEnumerator();
        while (true)
        {
            using var scope = NewDisposeScope();
            if (!chunks.MoveNext()) break;
            var (x, y) = chunks.Current;
            total += loss(x, y, generator).item<float>() * x.shape[0];
        }
        return total / validationRows;
    }
}
