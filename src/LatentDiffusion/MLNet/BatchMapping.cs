using Microsoft.ML;
using Microsoft.ML.Data;

namespace LatentDiffusion.MLNet;

/// <summary>An output column of a batch mapper: a float vector of <see cref="Size"/>, or an Int32 scalar when Size is 0.</summary>
internal sealed record OutputColumn(string Name, int Size, Action<DataViewSchema.Annotations.Builder>? Annotations = null)
{
    public DataViewType Type => Size == 0 ? NumberDataViewType.Int32 : new VectorDataViewType(NumberDataViewType.Single, Size);
}

/// <summary>
/// The one thing every transformer here does: read some input columns of a batch of rows, run a network on the
/// batch, and append output columns. Subclasses say which columns and how; <see cref="BatchMappedDataView"/> and
/// <see cref="BatchRowMapper"/> do the streaming.
/// </summary>
internal abstract class BatchMapper
{
    public abstract IReadOnlyList<OutputColumn> Outputs { get; }

    /// <summary>Rows per network call.</summary>
    public abstract int BatchSize { get; }

    /// <summary>Checks the input schema; throws naming the column, the expected and the actual type.</summary>
    public abstract void Validate(DataViewSchema input);

    /// <summary>The input columns the outputs are computed from.</summary>
    public abstract IEnumerable<DataViewSchema.Column> Dependencies(DataViewSchema input);

    /// <summary>A reader bound to <paramref name="row"/> with room for <paramref name="capacity"/> rows.</summary>
    public abstract BatchReader CreateReader(DataViewRow row, int capacity);

    /// <summary>The input columns plus the outputs, after <see cref="Validate"/> accepted the input.</summary>
    public DataViewSchema OutputSchema(DataViewSchema input)
    {
        Validate(input);
        var builder = new DataViewSchema.Builder();
        builder.AddColumns(input);
        foreach (var output in Outputs)
        {
            DataViewSchema.Annotations? annotations = null;
            if (output.Annotations is not null)
            {
                var a = new DataViewSchema.Annotations.Builder();
                output.Annotations(a);
                annotations = a.ToAnnotations();
            }
            builder.AddColumn(output.Name, output.Type, annotations);
        }
        return builder.ToSchema();
    }
}

/// <summary>Reads the inputs of one row into slot <c>slot</c>, then computes all outputs of the filled slots at once.</summary>
internal abstract class BatchReader
{
    public abstract void ReadRow(int slot, long position);

    /// <summary>Fills <paramref name="vectors"/>[output][slot * size ..] or <paramref name="scalars"/>[output][slot].</summary>
    public abstract void Compute(int rows, float[][] vectors, int[][] scalars);
}

/// <summary>Allocated output buffers of one batch.</summary>
internal sealed class BatchBuffers
{
    public BatchBuffers(IReadOnlyList<OutputColumn> outputs, int capacity)
    {
        Vectors = outputs.Select(o => o.Size > 0 ? new float[o.Size * capacity] : []).ToArray();
        Scalars = outputs.Select(o => o.Size == 0 ? new int[capacity] : []).ToArray();
    }

    public float[][] Vectors { get; }
    public int[][] Scalars { get; }

    public Delegate Getter(OutputColumn output, int outputIndex, Func<int> slot)
    {
        if (output.Size == 0)
        {
            var scalars = Scalars[outputIndex];
            return (ValueGetter<int>)((ref int value) => value = scalars[slot()]);
        }
        var vectors = Vectors[outputIndex];
        int size = output.Size;
        return (ValueGetter<VBuffer<float>>)((ref VBuffer<float> value) =>
        {
            var editor = VBufferEditor.Create(ref value, size);
            vectors.AsSpan(slot() * size, size).CopyTo(editor.Values);
            value = editor.Commit();
        });
    }

    public static ValueGetter<T> Cast<T>(Delegate getter, OutputColumn output)
    {
        if (getter is ValueGetter<T> typed) return typed;
        throw new InvalidOperationException($"Column '{output.Name}' is {output.Type}; a getter of {typeof(T).Name} was asked for.");
    }
}

/// <summary>
/// The lazy output of our transformers: input columns pass through, output columns are computed batch by batch as a
/// cursor reaches them, so a view of a million generation requests never holds more than one batch.
/// </summary>
internal sealed class BatchMappedDataView : IDataView
{
    private readonly IDataView input;
    private readonly BatchMapper mapper;
    private readonly int inputCount;

    public BatchMappedDataView(IDataView input, BatchMapper mapper)
    {
        this.input = input;
        this.mapper = mapper;
        inputCount = input.Schema.Count;
        Schema = mapper.OutputSchema(input.Schema);
    }

    public bool CanShuffle => false;
    public DataViewSchema Schema { get; }
    public long? GetRowCount() => input.GetRowCount();

    public DataViewRowCursor GetRowCursor(IEnumerable<DataViewSchema.Column> columnsNeeded, Random? rand = null)
    {
        var needed = columnsNeeded.Select(c => c.Index).ToHashSet();
        bool anyOutput = needed.Any(i => i >= inputCount);
        var passThrough = input.Schema.Where(c => needed.Contains(c.Index)).ToList();
        var main = input.GetRowCursor(passThrough);
        DataViewRowCursor? ahead = anyOutput ? input.GetRowCursor(mapper.Dependencies(input.Schema)) : null;
        return new Cursor(this, main, ahead, needed);
    }

    public DataViewRowCursor[] GetRowCursorSet(IEnumerable<DataViewSchema.Column> columnsNeeded, int n, Random? rand = null)
        => [GetRowCursor(columnsNeeded, rand)];

    private sealed class Cursor : DataViewRowCursor
    {
        private readonly BatchMappedDataView parent;
        private readonly DataViewRowCursor main;
        private readonly DataViewRowCursor? ahead;
        private readonly HashSet<int> active;
        private readonly BatchReader? reader;
        private readonly BatchBuffers? buffers;
        private int filled, slot = -1;

        public Cursor(BatchMappedDataView parent, DataViewRowCursor main, DataViewRowCursor? ahead, HashSet<int> active)
        {
            this.parent = parent;
            this.main = main;
            this.ahead = ahead;
            this.active = active;
            if (ahead is not null)
            {
                reader = parent.mapper.CreateReader(ahead, parent.mapper.BatchSize);
                buffers = new BatchBuffers(parent.mapper.Outputs, parent.mapper.BatchSize);
            }
        }

        public override DataViewSchema Schema => parent.Schema;
        public override long Position => main.Position;
        public override long Batch => main.Batch;
        public override ValueGetter<DataViewRowId> GetIdGetter() => main.GetIdGetter();
        public override bool IsColumnActive(DataViewSchema.Column column) => active.Contains(column.Index);

        public override bool MoveNext()
        {
            if (!main.MoveNext()) return false;
            if (ahead is null) return true;
            if (++slot >= filled)
            {
                filled = 0;
                while (filled < parent.mapper.BatchSize && ahead.MoveNext()) reader!.ReadRow(filled++, ahead.Position);
                reader!.Compute(filled, buffers!.Vectors, buffers.Scalars);
                slot = 0;
            }
            return true;
        }

        public override ValueGetter<TValue> GetGetter<TValue>(DataViewSchema.Column column)
        {
            if (!IsColumnActive(column))
                throw new InvalidOperationException($"Column '{column.Name}' was not requested from this cursor.");
            if (column.Index < parent.inputCount) return main.GetGetter<TValue>(parent.input.Schema[column.Index]);
            int o = column.Index - parent.inputCount;
            var output = parent.mapper.Outputs[o];
            return BatchBuffers.Cast<TValue>(buffers!.Getter(output, o, () => slot), output);
        }

        protected override void Dispose(bool disposing)
        {
            if (disposing)
            {
                main.Dispose();
                ahead?.Dispose();
            }
            base.Dispose(disposing);
        }
    }
}

/// <summary>The single-row form of a <see cref="BatchMapper"/>, which <see cref="PredictionEngine{TSrc, TDst}"/> uses.</summary>
internal sealed class BatchRowMapper : IRowToRowMapper
{
    private readonly BatchMapper mapper;
    private readonly int inputCount;

    public BatchRowMapper(DataViewSchema inputSchema, BatchMapper mapper)
    {
        this.mapper = mapper;
        InputSchema = inputSchema;
        inputCount = inputSchema.Count;
        OutputSchema = mapper.OutputSchema(inputSchema);
    }

    public DataViewSchema InputSchema { get; }
    public DataViewSchema OutputSchema { get; }

    public IEnumerable<DataViewSchema.Column> GetDependencies(IEnumerable<DataViewSchema.Column> dependingColumns)
    {
        var needed = dependingColumns.ToList();
        var result = needed.Where(c => c.Index < inputCount).Select(c => InputSchema[c.Index]).ToList();
        if (needed.Any(c => c.Index >= inputCount)) result.AddRange(mapper.Dependencies(InputSchema));
        return result.DistinctBy(c => c.Index);
    }

    public DataViewRow GetRow(DataViewRow input, IEnumerable<DataViewSchema.Column> activeColumns) =>
        new Row(this, input, activeColumns.Select(c => c.Index).ToHashSet());

    private sealed class Row : DataViewRow
    {
        private readonly BatchRowMapper parent;
        private readonly DataViewRow input;
        private readonly HashSet<int> active;
        private readonly BatchReader reader;
        private readonly BatchBuffers buffers;

        public Row(BatchRowMapper parent, DataViewRow input, HashSet<int> active)
        {
            this.parent = parent;
            this.input = input;
            this.active = active;
            reader = parent.mapper.CreateReader(input, 1);
            buffers = new BatchBuffers(parent.mapper.Outputs, 1);
        }

        public override DataViewSchema Schema => parent.OutputSchema;
        public override long Position => input.Position;
        public override long Batch => input.Batch;
        public override ValueGetter<DataViewRowId> GetIdGetter() => input.GetIdGetter();
        public override bool IsColumnActive(DataViewSchema.Column column) => active.Contains(column.Index);

        // Recomputed on every call: a prediction engine may feed new values without moving Position, so no cache
        // keyed on the row can be trusted here; single-row use is not the throughput path.
        private int Current()
        {
            reader.ReadRow(0, input.Position);
            reader.Compute(1, buffers.Vectors, buffers.Scalars);
            return 0;
        }

        public override ValueGetter<TValue> GetGetter<TValue>(DataViewSchema.Column column)
        {
            if (column.Index < parent.inputCount) return input.GetGetter<TValue>(parent.InputSchema[column.Index]);
            int o = column.Index - parent.inputCount;
            var output = parent.mapper.Outputs[o];
            return BatchBuffers.Cast<TValue>(buffers.Getter(output, o, Current), output);
        }
    }
}
