
using static TorchSharp.torch;

namespace LatentDiffusion.Training;

/// <summary>One pass over the rows of a source that is read again for every epoch.</summary>
internal interface IRowStream : IDisposable
{
    /// <summary>Reads the next row's values into <paramref name="values"/> and its label (0 without labels); false after the last row.</summary>
    bool Next(Span<float> values, out int label);
}

/// <summary>
/// Minibatches read from a stream of rows on every epoch, never holding more than a shuffle buffer of them: each epoch
/// draws a seed from the loop's generator; the source may shuffle its own order with it, and a buffer of
/// <paramref name="bufferRows"/> rows (filled from the stream; each row taken from a position the seed's
/// <see cref="Random"/> chooses and replaced by the next row read) shuffles within reach of the buffer. A row leaves the
/// buffer once, so an epoch still sees every row once. A resumed epoch reopens the stream with the saved seed and
/// replays the buffer's draws up to the batch where it stopped, so it continues with the same rows.
/// </summary>
/// <param name="open">Opens a pass over the <paramref name="rows"/> training rows, in an order shuffled by the given seed where the source can.</param>
/// <param name="rows">Training rows in the stream.</param>
/// <param name="rowShape">The shape of one row's values.</param>
/// <param name="labelled">Whether rows carry a label.</param>
/// <param name="device">Where batches are put.</param>
/// <param name="bufferRows">Rows the shuffle buffer holds.</param>
/// <param name="transform">Applied to each row's values as it is read (for example the latent standardisation), or null.</param>
/// <param name="sourceShuffle">How the source shuffles its own order, if it does (part of <see cref="Shuffle"/>).</param>
internal sealed class StreamedBatches(Func<int, IRowStream> open, long rows, long[] rowShape, bool labelled, Device device, int bufferRows,
    Action<Span<float>>? transform, string? sourceShuffle = null) : IBatchSource
{
    private readonly Func<int, IRowStream> open = open;
    private readonly long rows = rows;
    private readonly long[] rowShape = rowShape;
    private readonly bool labelled = labelled;
    private readonly Device device = device;
    private readonly int bufferRows = bufferRows;
    private readonly Action<Span<float>>? transform = transform;
    private readonly int size = checked((int)rowShape.Aggregate(1L, (a, b) => a * b));

    public long Rows => rows;

    public string? Shuffle => $"streamed through a buffer of {bufferRows} rows" + (sourceShuffle is null ? "" : $" after {sourceShuffle}");

    public Tensor DrawEpoch(Generator generator) => randint(int.MaxValue, [1], dtype: ScalarType.Int64, device: CPU, generator: generator);

    public IEpochBatches Open(Tensor epoch, int batchSize, long firstBatch) => new Epoch(this, (int)epoch.item<long>(), batchSize, firstBatch);

    public void Dispose()
    {
    }

    private sealed class Epoch : IEpochBatches
    {
        private readonly StreamedBatches source;
        private readonly IRowStream stream;
        private readonly Random random;
        private readonly float[] buffer;
        private readonly int[] labels;
        private readonly int batchSize;
        private int filled;
        private long read, taken;
        private bool exhausted;
        private float[] batchValues = [];
        private long[] batchLabels = [];

        public Epoch(StreamedBatches source, int seed, int batchSize, long firstBatch)
        {
            (this.source, this.batchSize, random) = (source, batchSize, new Random(seed));
            int capacity = (int)Math.Min(source.bufferRows, source.rows);
            (buffer, labels) = (new float[capacity * source.size], new int[capacity]);
            stream = source.open(seed);
            while (filled < capacity && Read(filled)) filled++;
            var scratch = new float[source.size];
            for (long skip = Math.Min(firstBatch * batchSize, source.rows); taken < skip;) Take(scratch, out _);
        }

        private bool Read(int slot)
        {
            if (exhausted) return false;
            if (stream.Next(buffer.AsSpan(slot * source.size, source.size), out labels[slot]))
            {
                if (++read > source.rows)
                    throw new InvalidDataException(
                        $"The training data gave more than its {source.rows} rows on a later pass: it must give the same rows on every pass.");
                return true;
            }
            exhausted = true;
            if (read != source.rows)
                throw new InvalidDataException(
                    $"The training data gave {read} rows on a later pass, not {source.rows}: it must give the same rows on every pass.");
            return false;
        }

        /// <summary>Takes a row from a random slot of the buffer and refills the slot from the stream (or closes the gap at the end).</summary>
        private void Take(Span<float> values, out int label)
        {
            int slot = random.Next(filled);
            buffer.AsSpan(slot * source.size, source.size).CopyTo(values);
            label = labels[slot];
            taken++;
            if (Read(slot)) return;
            filled--;
            if (slot == filled) return;
            buffer.AsSpan(filled * source.size, source.size).CopyTo(buffer.AsSpan(slot * source.size, source.size));
            labels[slot] = labels[filled];
        }

        public (Tensor Values, Tensor? Labels) Next()
        {
            int n = (int)Math.Min(batchSize, source.rows - taken);
            if (n <= 0) throw new InvalidOperationException("The epoch has no rows left.");
            // tensor() copies, so one pair of arrays serves every full batch (the last, shorter one gets its own).
            if (batchValues.Length != n * source.size) (batchValues, batchLabels) = (new float[n * source.size], new long[n]);
            var (values, rowLabels) = (batchValues, batchLabels);
            for (int i = 0; i < n; i++)
            {
                var row = values.AsSpan(i * source.size, source.size);
                Take(row, out int label);
                source.transform?.Invoke(row);
                rowLabels[i] = label;
            }
            return (tensor(values, [n, .. source.rowShape], device: source.device), source.labelled ? tensor(rowLabels, device: source.device) : null);
        }

        public void Dispose() => stream.Dispose();
    }
}
