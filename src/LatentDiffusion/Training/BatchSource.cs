using static TorchSharp.torch;

namespace LatentDiffusion.Training;

/// <summary>
/// Where a <see cref="MinibatchLoop"/> takes its minibatches from. Each epoch's order is drawn from the loop's generator
/// into a tensor that a checkpoint keeps, so a resumed run reopens the epoch at the batch where it stopped.
/// </summary>
internal interface IBatchSource : IDisposable
{
    /// <summary>Rows per epoch.</summary>
    long Rows { get; }

    /// <summary>How epochs are ordered, when not by a permutation of rows in memory (null): part of what a checkpoint must match.</summary>
    string? Shuffle { get; }

    /// <summary>Draws the next epoch's order from <paramref name="generator"/> (on the CPU).</summary>
    Tensor DrawEpoch(Generator generator);

    /// <summary>The epoch of order <paramref name="epoch"/>, positioned at batch <paramref name="firstBatch"/>.</summary>
    IEpochBatches Open(Tensor epoch, int batchSize, long firstBatch);
}

/// <summary>One epoch's minibatches, in order.</summary>
internal interface IEpochBatches : IDisposable
{
    /// <summary>The next minibatch (created in the caller's dispose scope).</summary>
    (Tensor Values, Tensor? Labels) Next();
}

/// <summary>Minibatches indexed out of tensors that hold every row: each epoch is a random permutation of the rows.</summary>
internal sealed class TensorBatches(Tensor values, Tensor? labels) : IBatchSource
{
    private readonly Tensor values = values;
    private readonly Tensor? labels = labels;

    public long Rows => values.shape[0];

    public string? Shuffle => null;

    public Tensor DrawEpoch(Generator generator) => randperm(Rows, generator: generator, device: CPU);

    public IEpochBatches Open(Tensor epoch, int batchSize, long firstBatch) => new Epoch(this, epoch, batchSize, firstBatch);

    public void Dispose()
    {
        values.Dispose();
        labels?.Dispose();
    }

    private sealed class Epoch(TensorBatches source, Tensor order, int batchSize, long batch) : IEpochBatches
    {
        public (Tensor Values, Tensor? Labels) Next()
        {
            long start = batch++ * batchSize;
            var rows = order.narrow(0, start, Math.Min(batchSize, source.Rows - start));
            return (source.values[rows], source.labels?[rows]);
        }

        public void Dispose()
        {
        }
    }
}
