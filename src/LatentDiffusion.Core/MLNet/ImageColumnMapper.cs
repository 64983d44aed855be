using Microsoft.ML;
using Microsoft.ML.Data;

namespace LatentDiffusion.MLNet;

/// <summary>
/// Reads one image column in batches (finite values of the expected size, checked per row) and hands each batch, with
/// the rows' positions, to a network: the VAE encoder's and the FID classifier's mapper.
/// </summary>
/// <param name="column">The image column read.</param>
/// <param name="imageSize">Floats per image.</param>
/// <param name="purpose">What the images are for, in messages ("images to encode").</param>
/// <param name="batchSize">Rows per network call.</param>
/// <param name="outputs">The columns appended.</param>
/// <param name="compute">Fills the output buffers from (images, rows, positions).</param>
public sealed class ImageColumnMapper(string column, int imageSize, string purpose, int batchSize, OutputColumn[] outputs,
    Action<float[], int, long[], float[][], int[][]> compute) : BatchMapper
{
    private readonly string column = column;
    private readonly int imageSize = imageSize;
    private readonly Action<float[], int, long[], float[][], int[][]> compute = compute;
    /// <inheritdoc/>
    public override IReadOnlyList<OutputColumn> Outputs => outputs;
    /// <inheritdoc/>
    public override int BatchSize => batchSize;

    /// <inheritdoc/>
    public override void Validate(DataViewSchema input) => ColumnReader.RequireFloatVector(input, column, purpose, imageSize);

    /// <inheritdoc/>
    public override IEnumerable<DataViewSchema.Column> Dependencies(DataViewSchema input) => [input[column]];

    /// <inheritdoc/>
    public override BatchReader CreateReader(DataViewRow row, int capacity) => new Reader(this, row, capacity);

    private sealed class Reader(ImageColumnMapper parent, DataViewRow row, int capacity) : BatchReader
    {
        private readonly ValueGetter<VBuffer<float>> getter = row.GetGetter<VBuffer<float>>(row.Schema[parent.column]);
        private readonly float[] images = new float[capacity * parent.imageSize];
        private readonly long[] positions = new long[capacity];
        private VBuffer<float> cell;

        public override void ReadRow(int slot, long position)
        {
            getter(ref cell);
            ColumnReader.CopyFinite(cell, images.AsSpan(slot * parent.imageSize, parent.imageSize), parent.column, position);
            positions[slot] = position;
        }

        public override void Compute(int rows, float[][] vectors, int[][] scalars)
        {
            if (rows == 0) return;
            parent.compute(rows == capacity ? images : images[..(rows * parent.imageSize)], rows, positions, vectors, scalars);
        }
    }
}
