
using static TorchSharp.torch;

namespace LatentDiffusion.Training;

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
