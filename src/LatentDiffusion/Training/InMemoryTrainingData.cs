
using static TorchSharp.torch;

namespace LatentDiffusion.Training;

/// <summary>Training data held in memory: one array of row-major values and one of labels.</summary>
internal sealed class InMemoryTrainingData : TrainingData
{
    private readonly float[] values;
    private readonly int[]? labels;

    public InMemoryTrainingData(float[] values, int[]? labels, int rows)
    {
        if (rows <= 0 || values.Length % rows != 0)
            throw new ArgumentException($"{values.Length} values do not make {rows} rows of equal size.", nameof(values));
        if (labels is not null && labels.Length != rows) throw new ArgumentException($"{labels.Length} labels for {rows} rows.", nameof(labels));
        (this.values, this.labels, Rows, Size) = (values, labels, rows, values.Length / rows);
    }

    public override int Rows { get; }
    public override int Size { get; }
    public override bool HasLabels => labels is not null;

    public override (float Min, float Max) Range() => (values.Min(), values.Max());

    public override IEnumerable<DataChunk> Chunks(int start, int count, int chunkRows)
    {
        float[] chunk = [];
        int[]? chunkLabels = null;
        for (int first = start; first < start + count; first += chunkRows)
        {
            int n = Math.Min(chunkRows, start + count - first);
            if (chunk.Length != n * Size) (chunk, chunkLabels) = (new float[n * Size], labels is null ? null : new int[n]);
            values.AsSpan(first * Size, n * Size).CopyTo(chunk);
            labels?.AsSpan(first, n).CopyTo(chunkLabels);
            yield return new DataChunk(chunk, chunkLabels, n);
        }
    }

    public override IBatchSource Batches(int trainRows, long[] rowShape, Device device, Action<Span<float>>? transform = null)
    {
        var rows = values[..(trainRows * Size)];
        if (transform is not null)
            for (int r = 0; r < trainRows; r++) transform(rows.AsSpan(r * Size, Size));
        return new TensorBatches(tensor(rows, [trainRows, .. rowShape], device: device),
            labels is null ? null : tensor(labels[..trainRows].Select(l => (long)l).ToArray(), device: device));
    }
}
