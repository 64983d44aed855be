using LatentDiffusion.Training;
using Microsoft.ML;
using Microsoft.ML.Data;

namespace LatentDiffusion.MLNet.Estimators;

/// <summary>
/// Reads training rows from a cursor: a float-vector column of <c>size</c> values (finite, checked) and optionally an
/// integer label column in 0..classes-1 (checked). Errors name the column and the row (its position in this pass).
/// </summary>
internal sealed class TrainingRowReader : IRowStream
{
    private readonly DataViewRowCursor cursor;
    private readonly ValueGetter<VBuffer<float>> values;
    private readonly Func<long>? label;
    private ValueGetter<DataViewRowId>? id;
    private readonly string column;
    private readonly string? labelColumn;
    private readonly int classes;
    private readonly CancellationToken cancellationToken;
    private readonly long limit;
    private readonly HashSet<DataViewRowId>? skip;
    private VBuffer<float> cell;
    private long given;

    /// <summary>A reader of the float vectors of <paramref name="column"/> (and their labels) from one pass over <paramref name="data"/>.</summary>
    /// <param name="data">The view read.</param>
    /// <param name="column">The float-vector column trained on.</param>
    /// <param name="labelColumn">The label column, or null for none.</param>
    /// <param name="classes">The labels allowed: 0..classes-1; a label outside is refused naming the row.</param>
    /// <param name="cancellationToken">Stops the pass between rows.</param>
    /// <param name="shuffle">Shuffles the view's own order (only when it <see cref="IDataView.CanShuffle"/>).</param>
    /// <param name="limit">Rows to give at most (the first ones of the pass).</param>
    /// <param name="skip">Rows to leave out, by their ids.</param>
    public TrainingRowReader(IDataView data, string column, string? labelColumn, int classes, CancellationToken cancellationToken, Random? shuffle = null,
        long limit = long.MaxValue, HashSet<DataViewRowId>? skip = null)
    {
        var schema = data.Schema;
        var columns = labelColumn is null ? new[] { schema[column] } : [schema[column], schema[labelColumn]];
        cursor = shuffle is null ? data.GetRowCursor(columns) : data.GetRowCursor(columns, shuffle);
        values = cursor.GetGetter<VBuffer<float>>(schema[column]);
        label = labelColumn is null ? null : ColumnReader.IntegerGetter(cursor, schema[labelColumn]);
        (this.column, this.labelColumn, this.classes, this.cancellationToken, this.limit, this.skip) =
            (column, labelColumn, classes, cancellationToken, limit, skip);
    }

    /// <summary>Rows of the view passed so far (read, skipped or left out).</summary>
    public long Position { get; private set; }

    /// <summary>
    /// Moves past the next row without checking it; false at the end. The cell is still fetched: ML.NET's binary loader
    /// queues the blocks of rows whose values are never fetched, so skipping a million rows unread would hold them all.
    /// </summary>
    public bool Skip()
    {
        if (!cursor.MoveNext()) return false;
        values(ref cell);
        Position++;
        return true;
    }

    /// <summary>The id of the row the reader stands on (after <see cref="Skip"/>).</summary>
    public DataViewRowId Id
    {
        get
        {
            DataViewRowId value = default;
            (id ??= cursor.GetIdGetter())(ref value);
            return value;
        }
    }

    public bool Next(Span<float> destination, out int rowLabel)
    {
        rowLabel = 0;
        while (true)
        {
            if (given >= limit || !Skip()) return false;
            if ((Position & 1023) == 0) cancellationToken.ThrowIfCancellationRequested();
            if (skip is null || !skip.Contains(Id)) break;
        }
        long row = Position - 1;
        ColumnReader.CopyFinite(cell, destination, column, row);
        if (label is not null)
        {
            long value = label();
            if (value < 0 || value >= classes)
                throw new ArgumentOutOfRangeException(labelColumn,
                    $"Column '{labelColumn}', row {row}: label {value} is outside the declared range 0..{classes - 1}.");
            rowLabel = (int)value;
        }
        given++;
        return true;
    }

    public void Dispose() => cursor.Dispose();

    /// <summary>
    /// Reads a whole float-vector column (and optionally an integer label column in 0..classes-1) into memory for
    /// training, checking every value. Throws on an empty view.
    /// </summary>
    public static (float[] Values, int[]? Labels, int Rows) ReadAll(IDataView data, string vectorColumn, int size, string? labelColumn, int classes,
        CancellationToken cancellationToken = default)
    {
        var values = new List<float>(checked((int)Math.Min((data.GetRowCount() ?? 1024) * size, int.MaxValue)));
        var labels = labelColumn is null ? null : new List<int>();
        using var reader = new TrainingRowReader(data, vectorColumn, labelColumn, classes, cancellationToken);
        var buffer = new float[size];
        while (reader.Next(buffer, out int label))
        {
            values.AddRange(buffer);
            labels?.Add(label);
        }
        if (reader.Position == 0) throw ColumnReader.NoRows(vectorColumn, nameof(data));
        return (values.ToArray(), labels?.ToArray(), checked((int)reader.Position));
    }

}
