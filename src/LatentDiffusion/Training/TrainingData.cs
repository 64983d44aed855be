
using static TorchSharp.torch;

namespace LatentDiffusion.Training;

/// <summary>
/// What every training recipe learns from: <see cref="Rows"/> samples of <see cref="Size"/> values each, with optional
/// labels in 0..classes-1. Recipes read it in input order by chunks (statistics, validation) and draw shuffled
/// minibatches of its first rows from <see cref="Batches"/>; whether the rows sit in memory or stream from their source
/// on every pass is the subclass's business.
/// </summary>
internal abstract class TrainingData
{
    public abstract int Rows { get; }
    public abstract int Size { get; }
    public abstract bool HasLabels { get; }

    /// <summary>The smallest and largest value of all rows.</summary>
    public abstract (float Min, float Max) Range();

    /// <summary>
    /// Rows <paramref name="start"/> .. start + count - 1, in input order, at most <paramref name="chunkRows"/> at a time.
    /// A chunk's arrays are reused for the next chunk: use (or copy) them before moving on.
    /// </summary>
    public abstract IEnumerable<DataChunk> Chunks(int start, int count, int chunkRows);

    /// <summary>
    /// The shuffled minibatches of rows 0 .. <paramref name="trainRows"/> - 1, shaped [n, ..<paramref name="rowShape"/>]
    /// on <paramref name="device"/>, after <paramref name="transform"/> (applied to each row's values in place).
    /// </summary>
    public abstract IBatchSource Batches(int trainRows, long[] rowShape, Device device, Action<Span<float>>? transform = null);

    /// <summary>Rows held in one array, row-major (<paramref name="values"/> holds rows x size values).</summary>
    public static TrainingData InMemory(float[] values, int[]? labels, int rows) => new InMemoryTrainingData(values, labels, rows);

    /// <summary>All rows in input order, chunk by chunk (statistics that must see every row).</summary>
    public IEnumerable<DataChunk> All(int chunkRows) => Chunks(0, Rows, chunkRows);
}

/// <summary>Consecutive rows: <see cref="Values"/> holds <see cref="Rows"/> x size values; labels, when the data has them, one per row.</summary>
internal readonly record struct DataChunk(float[] Values, int[]? Labels, int Rows);
