using LatentDiffusion.Training;
using Microsoft.ML;
using Microsoft.ML.Data;
using static TorchSharp.torch;

namespace LatentDiffusion.MLNet.Estimators;

/// <summary>
/// Training data that stays in its <see cref="IDataView"/>: every pass opens a cursor, so memory holds a shuffle buffer
/// and a chunk, never the rows. One pass on creation counts the rows and checks every value and label (errors surface
/// before training, as they do in memory) and records the smallest and largest value. Epochs go through a seeded
/// buffer (<see cref="StreamedBatches"/>), over the view in its order or, when asked and the view
/// <see cref="IDataView.CanShuffle"/>, in its own shuffled order (the validation rows, the last ones in the view's
/// order, are then left out by their row ids). The view must give the same rows on every pass.
/// </summary>
internal sealed class DataViewTrainingData : TrainingData
{
    private readonly IDataView data;
    private readonly string column;
    private readonly string? labelColumn;
    private readonly int classes, bufferRows;
    private readonly bool shuffleSource;
    private readonly CancellationToken cancellationToken;
    private (int TrainRows, HashSet<DataViewRowId> Ids)? heldOut;

    public DataViewTrainingData(IDataView data, string column, int size, string? labelColumn, int classes, int bufferRows, bool shuffleSource,
        CancellationToken cancellationToken)
    {
        if (shuffleSource && !data.CanShuffle) throw new ArgumentException("The view cannot shuffle itself.", nameof(shuffleSource));
        (this.data, this.column, this.labelColumn, this.classes, this.bufferRows, this.shuffleSource, this.cancellationToken, Size) =
            (data, column, labelColumn, classes, bufferRows, shuffleSource, cancellationToken, size);
        var (low, high) = (float.PositiveInfinity, float.NegativeInfinity);
        var row = new float[size];
        long rows = 0;
        using (var reader = Reader())
            while (reader.Next(row, out _))
            {
                rows++;
                foreach (float v in row) (low, high) = (Math.Min(low, v), Math.Max(high, v));
            }
        if (rows == 0) throw ColumnReader.NoRows(column, nameof(data));
        if (rows > int.MaxValue)
            throw new ArgumentOutOfRangeException(nameof(data), rows, $"Column '{column}' has {rows} rows; at most {int.MaxValue} are supported.");
        (Rows, Min, Max) = ((int)rows, low, high);
    }

    public override int Rows { get; }
    public override int Size { get; }
    public override bool HasLabels => labelColumn is not null;
    private float Min { get; }
    private float Max { get; }

    public override (float Min, float Max) Range() => (Min, Max);

    private TrainingRowReader Reader(Random? shuffle = null, long limit = long.MaxValue, HashSet<DataViewRowId>? skip = null) =>
        new(data, column, labelColumn, classes, cancellationToken, shuffle, limit, skip);

    public override IEnumerable<DataChunk> Chunks(int start, int count, int chunkRows)
    {
        using var reader = Reader(limit: (long)start + count);
        for (int i = 0; i < start; i++) reader.Skip();
        float[] values = [];
        int[]? labels = null;
        for (int first = start; first < start + count; first += chunkRows)
        {
            int n = Math.Min(chunkRows, start + count - first);
            if (values.Length != n * Size) (values, labels) = (new float[n * Size], HasLabels ? new int[n] : null);
            for (int r = 0; r < n; r++)
            {
                if (!reader.Next(values.AsSpan(r * Size, Size), out int label))
                    throw new InvalidDataException(
                        $"Column '{column}' gave {first + r} rows on a later pass, not {Rows}: the view must give the same rows on every pass.");
                if (labels is not null) labels[r] = label;
            }
            yield return new DataChunk(values, labels, n);
        }
    }

    public override IBatchSource Batches(int trainRows, long[] rowShape, Device device, Action<Span<float>>? transform = null) =>
        new StreamedBatches(seed => Open(seed, trainRows), trainRows, rowShape, HasLabels, device, bufferRows, transform,
            shuffleSource ? "the view's shuffling" : null);

    /// <summary>A pass over the first <paramref name="trainRows"/> rows (in the view's order), shuffled by the view when asked.</summary>
    private IRowStream Open(int seed, int trainRows)
    {
        if (!shuffleSource) return Reader(limit: trainRows);
        if (trainRows == Rows) return Reader(new Random(seed));
        return Reader(new Random(seed), skip: HeldOut(trainRows));
    }

    /// <summary>The ids of the rows after the first <paramref name="trainRows"/>: what a shuffled pass leaves out.</summary>
    private HashSet<DataViewRowId> HeldOut(int trainRows)
    {
        if (heldOut is { } known && known.TrainRows == trainRows) return known.Ids;
        var ids = new HashSet<DataViewRowId>();
        using (var reader = Reader())
            while (reader.Skip())
                if (reader.Position > trainRows && !ids.Add(reader.Id))
                    throw new InvalidDataException($"The view of column '{column}' gives two rows the same id: it cannot be shuffled for streaming.");
        heldOut = (trainRows, ids);
        return ids;
    }
}
