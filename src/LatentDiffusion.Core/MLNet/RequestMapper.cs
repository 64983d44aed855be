using Microsoft.ML;

namespace LatentDiffusion.MLNet;

/// <summary>
/// Reads generation requests (optional label column, optional seed column) in batches and hands them to a sampling
/// function; shared by <c>LatentDiffusionTransformer</c> and <c>DigitGeneratorTransformer</c>.
/// </summary>
public sealed class RequestMapper : BatchMapper
{
    private readonly string? labelColumn;
    private readonly string seedColumn;
    private readonly int seed, classes, batchSize;
    private readonly OutputColumn[] outputs;
    private readonly Action<int[], long[], float[]> sample;

    /// <summary>
    /// A mapper of requests: <paramref name="labelColumn"/> (null: unconditional) and <paramref name="seedColumn"/>
    /// (absent: the row's position) with the transformer's <paramref name="seed"/>, in batches of <paramref
    /// name="batchSize"/>, sampled by <paramref name="sample"/>(labels, seeds, output) into <paramref name="outputs"/>;
    /// labels are checked against <paramref name="classes"/>.
    /// </summary>
    public RequestMapper(string? labelColumn, string seedColumn, int seed, int classes, int batchSize, OutputColumn[] outputs, Action<int[], long[],
        float[]> sample)
    {
        (this.labelColumn, this.seedColumn, this.seed, this.classes, this.batchSize, this.outputs, this.sample) =
            (labelColumn, seedColumn, seed, classes, batchSize, outputs, sample);
    }

    /// <inheritdoc/>
    public override IReadOnlyList<OutputColumn> Outputs => outputs;
    /// <inheritdoc/>
    public override int BatchSize => batchSize;

    /// <inheritdoc/>
    public override void Validate(DataViewSchema input)
    {
        if (labelColumn is not null && input.GetColumnOrNull(labelColumn) is not null)
            ColumnReader.RequireInteger(input, labelColumn, "requested labels");
        if (input.GetColumnOrNull(seedColumn) is not null)
            ColumnReader.RequireInteger(input, seedColumn, "request seeds");
    }

    /// <inheritdoc/>
    public override IEnumerable<DataViewSchema.Column> Dependencies(DataViewSchema input)
    {
        if (labelColumn is not null && input.GetColumnOrNull(labelColumn) is { } l) yield return l;
        if (input.GetColumnOrNull(seedColumn) is { } s) yield return s;
    }

    /// <inheritdoc/>
    public override BatchReader CreateReader(DataViewRow row, int capacity) => new Reader(this, row, capacity);

    /// <summary>
    /// Every request of <paramref name="data"/>, read as a transformer reads them: the label (-1 without a label column),
    /// checked against <paramref name="classes"/>, and the seed (from the seed column, or derived from
    /// <paramref name="seed"/> and the row's position).
    /// </summary>
    public static (int[] Labels, long[] Seeds) ReadAll(IDataView data, string? labelColumn, string seedColumn, int seed, int classes)
    {
        ArgumentNullException.ThrowIfNull(data);
        var mapper = new RequestMapper(labelColumn, seedColumn, seed, classes, 1, [], (_, _, _) => { });
        mapper.Validate(data.Schema);
        var labels = new List<int>();
        var seeds = new List<long>();
        using var cursor = data.GetRowCursor(mapper.Dependencies(data.Schema));
        Func<long>? label = labelColumn is not null && data.Schema.GetColumnOrNull(labelColumn) is { } l ? ColumnReader.IntegerGetter(cursor, l) : null;
        Func<long>? seedGetter = data.Schema.GetColumnOrNull(seedColumn) is { } s ? ColumnReader.IntegerGetter(cursor, s, bits: true) : null;
        for (long position = 0; cursor.MoveNext(); position++)
        {
            long value = label?.Invoke() ?? -1;
            RequestValidation.CheckLabel(value, classes, labelColumn ?? "Label", position);
            labels.Add((int)value);
            seeds.Add(seedGetter?.Invoke() ?? ComponentSupport.RowSeed(seed, position));
        }
        return ([.. labels], [.. seeds]);
    }

    private sealed class Reader : BatchReader
    {
        private readonly RequestMapper parent;
        private readonly Func<long>? label, seedGetter;
        private readonly int[] labels;
        private readonly long[] seeds;
        private readonly float[] buffer;

        public Reader(RequestMapper parent, DataViewRow row, int capacity)
        {
            this.parent = parent;
            if (parent.labelColumn is not null && row.Schema.GetColumnOrNull(parent.labelColumn) is { } l) label = ColumnReader.IntegerGetter(row, l);
            if (row.Schema.GetColumnOrNull(parent.seedColumn) is { } s) seedGetter = ColumnReader.IntegerGetter(row, s, bits: true);
            labels = new int[capacity];
            seeds = new long[capacity];
            buffer = new float[capacity * parent.outputs[0].Size];
        }

        public override void ReadRow(int slot, long position)
        {
            long value = label?.Invoke() ?? -1;
            RequestValidation.CheckLabel(value, parent.classes, parent.labelColumn ?? "Label", position);
            labels[slot] = (int)value;
            seeds[slot] = seedGetter?.Invoke() ?? ComponentSupport.RowSeed(parent.seed, position);
        }

        public override void Compute(int rows, float[][] vectors, int[][] scalars)
        {
            if (rows == 0) return;
            var output = rows == labels.Length ? buffer : new float[rows * parent.outputs[0].Size];
            parent.sample(labels[..rows], seeds[..rows], output);
            output.AsSpan(0, rows * parent.outputs[0].Size).CopyTo(vectors[0]);
        }
    }
}
