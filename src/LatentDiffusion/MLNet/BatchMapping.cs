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
/// cursor reaches them, so a view of a million generation requests never holds more than one batch. One cursor reads
/// the input: when outputs are wanted it runs a batch ahead, and the passed-through values of that batch are buffered
/// with it, so a lazy input column is computed once per row even when it both passes through and feeds the outputs.
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
        var passThrough = input.Schema.Where(c => needed.Contains(c.Index)).ToList();
        if (!needed.Any(i => i >= inputCount)) return new PassThroughCursor(this, input.GetRowCursor(passThrough), needed);
        var dependencies = mapper.Dependencies(input.Schema).ToList();
        var upstream = input.GetRowCursor(passThrough.Concat(dependencies).DistinctBy(c => c.Index));
        return new BatchCursor(this, upstream, passThrough, needed);
    }

    public DataViewRowCursor[] GetRowCursorSet(IEnumerable<DataViewSchema.Column> columnsNeeded, int n, Random? rand = null)
        => [GetRowCursor(columnsNeeded, rand)];

    /// <summary>No output wanted: the input's cursor under this view's schema.</summary>
    private sealed class PassThroughCursor(BatchMappedDataView parent, DataViewRowCursor main, HashSet<int> active) : DataViewRowCursor
    {
        public override DataViewSchema Schema => parent.Schema;
        public override long Position => main.Position;
        public override long Batch => main.Batch;
        public override ValueGetter<DataViewRowId> GetIdGetter() => main.GetIdGetter();
        public override bool IsColumnActive(DataViewSchema.Column column) => active.Contains(column.Index);
        public override bool MoveNext() => main.MoveNext();

        public override ValueGetter<TValue> GetGetter<TValue>(DataViewSchema.Column column)
        {
            if (!IsColumnActive(column)) throw new InvalidOperationException($"Column '{column.Name}' was not requested from this cursor.");
            return main.GetGetter<TValue>(parent.input.Schema[column.Index]);
        }

        protected override void Dispose(bool disposing)
        {
            if (disposing) main.Dispose();
            base.Dispose(disposing);
        }
    }

    /// <summary>Reads a batch of rows ahead, buffering their passed-through values and ids, and computes the outputs of the batch at once.</summary>
    private sealed class BatchCursor : DataViewRowCursor
    {
        private readonly BatchMappedDataView parent;
        private readonly DataViewRowCursor upstream;
        private readonly HashSet<int> active;
        private readonly BatchReader reader;
        private readonly BatchBuffers buffers;
        private readonly Dictionary<int, SlotColumn> passed = [];
        private readonly ValueGetter<DataViewRowId> upstreamId;
        private readonly DataViewRowId[] ids;
        private int filled, slot = -1;
        private long position = -1;

        public BatchCursor(BatchMappedDataView parent, DataViewRowCursor upstream, List<DataViewSchema.Column> passThrough, HashSet<int> active)
        {
            this.parent = parent;
            this.upstream = upstream;
            this.active = active;
            int capacity = parent.mapper.BatchSize;
            reader = parent.mapper.CreateReader(upstream, capacity);
            buffers = new BatchBuffers(parent.mapper.Outputs, capacity);
            foreach (var column in passThrough) passed[column.Index] = SlotColumn.Create(upstream, column, capacity);
            upstreamId = upstream.GetIdGetter();
            ids = new DataViewRowId[capacity];
        }

        public override DataViewSchema Schema => parent.Schema;
        public override long Position => position;
        public override long Batch => 0;
        public override bool IsColumnActive(DataViewSchema.Column column) => active.Contains(column.Index);

        public override ValueGetter<DataViewRowId> GetIdGetter() => (ref DataViewRowId value) => value = ids[slot];

        public override bool MoveNext()
        {
            if (++slot >= filled)
            {
                filled = 0;
                while (filled < parent.mapper.BatchSize && upstream.MoveNext())
                {
                    reader.ReadRow(filled, upstream.Position);
                    foreach (var column in passed.Values) column.Read(filled);
                    upstreamId(ref ids[filled]);
                    filled++;
                }
                if (filled == 0) return false;
                reader.Compute(filled, buffers.Vectors, buffers.Scalars);
                slot = 0;
            }
            position++;
            return true;
        }

        public override ValueGetter<TValue> GetGetter<TValue>(DataViewSchema.Column column)
        {
            if (!IsColumnActive(column)) throw new InvalidOperationException($"Column '{column.Name}' was not requested from this cursor.");
            if (column.Index < parent.inputCount) return passed[column.Index].Getter<TValue>(() => slot);
            int o = column.Index - parent.inputCount;
            var output = parent.mapper.Outputs[o];
            return BatchBuffers.Cast<TValue>(buffers.Getter(output, o, () => slot), output);
        }

        protected override void Dispose(bool disposing)
        {
            if (disposing) upstream.Dispose();
            base.Dispose(disposing);
        }
    }

    /// <summary>One passed-through column's values for every slot of a batch; each slot owns its value (a vector slot its own buffers).</summary>
    private abstract class SlotColumn
    {
        public abstract void Read(int slot);

        public abstract ValueGetter<TValue> Getter<TValue>(Func<int> slot);

        public static SlotColumn Create(DataViewRow row, DataViewSchema.Column column, int capacity)
        {
            var type = column.Type.RawType;
            var generic = type.IsGenericType && type.GetGenericTypeDefinition() == typeof(VBuffer<>)
                ? typeof(VectorSlots<>).MakeGenericType(type.GetGenericArguments()[0])
                : typeof(ValueSlots<>).MakeGenericType(type);
            return (SlotColumn)Activator.CreateInstance(generic, row, column, capacity)!;
        }
    }

    private sealed class ValueSlots<T>(DataViewRow row, DataViewSchema.Column column, int capacity) : SlotColumn
    {
        private readonly ValueGetter<T> source = row.GetGetter<T>(column);
        private readonly T[] values = new T[capacity];

        public override void Read(int slot) => source(ref values[slot]);

        public override ValueGetter<TValue> Getter<TValue>(Func<int> slot) =>
            (ValueGetter<TValue>)(Delegate)(ValueGetter<T>)((ref T value) => value = values[slot()]);
    }

    private sealed class VectorSlots<TItem>(DataViewRow row, DataViewSchema.Column column, int capacity) : SlotColumn
    {
        private readonly ValueGetter<VBuffer<TItem>> source = row.GetGetter<VBuffer<TItem>>(column);
        private readonly VBuffer<TItem>[] values = new VBuffer<TItem>[capacity];

        public override void Read(int slot) => source(ref values[slot]);

        public override ValueGetter<TValue> Getter<TValue>(Func<int> slot) =>
            (ValueGetter<TValue>)(Delegate)(ValueGetter<VBuffer<TItem>>)((ref VBuffer<TItem> value) => values[slot()].CopyTo(ref value));
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

        private long computedAt = long.MinValue;

        // Computed once per input position, for all outputs: ML.NET's rows move Position whenever their values change
        // (a prediction engine's input row counts up on every Predict), as its own row mappers assume.
        private int Current()
        {
            if (computedAt != input.Position)
            {
                reader.ReadRow(0, input.Position);
                reader.Compute(1, buffers.Vectors, buffers.Scalars);
                computedAt = input.Position;
            }
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
