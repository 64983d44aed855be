using Microsoft.ML;
using Microsoft.ML.Data;

namespace LatentDiffusion.MLNet;

/// <summary>
/// The lazy output of our transformers: input columns pass through, output columns are computed batch by batch as a
/// cursor reaches them, so a view of a million generation requests never holds more than one batch. One cursor reads
/// the input: when outputs are wanted it runs a batch ahead, and the passed-through values of that batch are buffered
/// with it, so a lazy input column is computed once per row even when it both passes through and feeds the outputs.
/// </summary>
public sealed class BatchMappedDataView : IDataView
{
    private readonly IDataView input;
    private readonly BatchMapper mapper;
    private readonly int inputCount;

    /// <summary>A view of <paramref name="input"/> with <paramref name="mapper"/>'s outputs appended; the input schema is checked now.</summary>
    public BatchMappedDataView(IDataView input, BatchMapper mapper)
    {
        this.input = input;
        this.mapper = mapper;
        inputCount = input.Schema.Count;
        Schema = mapper.OutputSchema(input.Schema);
    }

    /// <inheritdoc/>
    public bool CanShuffle => false;
    /// <inheritdoc/>
    public DataViewSchema Schema { get; }
    /// <inheritdoc/>
    public long? GetRowCount() => input.GetRowCount();

    /// <inheritdoc/>
    public DataViewRowCursor GetRowCursor(IEnumerable<DataViewSchema.Column> columnsNeeded, Random? rand = null)
    {
        var needed = columnsNeeded.Select(c => c.Index).ToHashSet();
        var passThrough = input.Schema.Where(c => needed.Contains(c.Index)).ToList();
        if (!needed.Any(i => i >= inputCount)) return new PassThroughCursor(this, input.GetRowCursor(passThrough), needed);
        var dependencies = mapper.Dependencies(input.Schema).ToList();
        var upstream = input.GetRowCursor(passThrough.Concat(dependencies).DistinctBy(c => c.Index));
        return new BatchCursor(this, upstream, passThrough, needed);
    }

    /// <inheritdoc/>
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
