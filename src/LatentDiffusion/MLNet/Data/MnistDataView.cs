using LatentDiffusion.Data;
using Microsoft.ML;
using Microsoft.ML.Data;

namespace LatentDiffusion.MLNet.Data;

/// <summary>
/// An <see cref="IDataView"/> over an <see cref="MnistDataset"/>: a <c>Label</c> column (Int32, 0..9) and an
/// <c>Image</c> column (784 floats in [0,1]). Rows are converted from the raw bytes as the cursor reaches them.
/// </summary>
internal sealed class MnistDataView : IDataView
{
    private readonly MnistDataset _data;

    public MnistDataView(MnistDataset data, string labelColumn, string imageColumn)
    {
        _data = data;
        var builder = new DataViewSchema.Builder();
        builder.AddColumn(labelColumn, NumberDataViewType.Int32);
        var annotations = new DataViewSchema.Annotations.Builder();
        LatentDiffusion.MLNet.ShapeAnnotation.Add(annotations, [1, data.Height, data.Width]);
        builder.AddColumn(imageColumn, new VectorDataViewType(NumberDataViewType.Single, data.ImageSize), annotations.ToAnnotations());
        Schema = builder.ToSchema();
    }

    public bool CanShuffle => true;

    public DataViewSchema Schema { get; }

    public long? GetRowCount() => _data.Count;

    public DataViewRowCursor GetRowCursor(IEnumerable<DataViewSchema.Column> columnsNeeded, Random? rand = null)
    {
        int[]? order = null;
        if (rand is not null)
        {
            order = Enumerable.Range(0, _data.Count).ToArray();
            rand.Shuffle(order);
        }
        return new Cursor(this, columnsNeeded.Select(c => c.Index).ToHashSet(), order);
    }

    public DataViewRowCursor[] GetRowCursorSet(IEnumerable<DataViewSchema.Column> columnsNeeded, int n, Random? rand = null)
        => [GetRowCursor(columnsNeeded, rand)];

    private sealed class Cursor : DataViewRowCursor
    {
        private readonly MnistDataView _parent;
        private readonly HashSet<int> _active;
        private readonly int[]? _order;
        private long _position = -1;

        public Cursor(MnistDataView parent, HashSet<int> active, int[]? order)
        {
            _parent = parent;
            _active = active;
            _order = order;
        }

        public override DataViewSchema Schema => _parent.Schema;
        public override long Position => _position;
        public override long Batch => 0;

        private int Row => _order is null ? (int)_position : _order[_position];

        public override bool MoveNext()
        {
            if (_position + 1 >= _parent._data.Count)
            {
                _position = _parent._data.Count;
                return false;
            }
            _position++;
            return true;
        }

        public override bool IsColumnActive(DataViewSchema.Column column) => _active.Contains(column.Index);

        public override ValueGetter<DataViewRowId> GetIdGetter() =>
            (ref DataViewRowId id) => id = new DataViewRowId((ulong)Row, 0);

        public override ValueGetter<TValue> GetGetter<TValue>(DataViewSchema.Column column)
        {
            if (!IsColumnActive(column))
                throw new InvalidOperationException($"Column '{column.Name}' was not requested from this cursor.");
            var data = _parent._data;
            if (column.Index == 0)
            {
                if (typeof(TValue) != typeof(int))
                    throw new InvalidOperationException($"Column '{column.Name}' is Int32; a getter of {typeof(TValue).Name} was asked for.");
                ValueGetter<int> label = (ref int value) => value = data.Labels.Span[Row];
                return (ValueGetter<TValue>)(Delegate)label;
            }
            if (typeof(TValue) != typeof(VBuffer<float>))
                throw new InvalidOperationException($"Column '{column.Name}' is Vector<Single, {data.ImageSize}>; a getter of "
                    + $"{typeof(TValue).Name} was asked for.");
            ValueGetter<VBuffer<float>> image = (ref VBuffer<float> value) =>
            {
                int size = data.ImageSize;
                var editor = VBufferEditor.Create(ref value, size);
                var pixels = data.Pixels.Span.Slice(Row * size, size);
                for (int i = 0; i < size; i++) editor.Values[i] = pixels[i] / 255f;
                value = editor.Commit();
            };
            return (ValueGetter<TValue>)(Delegate)image;
        }
    }
}
