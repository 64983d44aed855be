using Microsoft.ML;
using Microsoft.ML.Data;

namespace LatentDiffusion.MLNet;

/// <summary>An output column of a batch mapper: a float vector of <see cref="Size"/>, or an Int32 scalar when Size is 0.</summary>
public sealed record OutputColumn(string Name, int Size, Action<DataViewSchema.Annotations.Builder>? Annotations = null)
{
    /// <summary>The column's ML.NET type.</summary>
    public DataViewType Type => Size == 0 ? NumberDataViewType.Int32 : new VectorDataViewType(NumberDataViewType.Single, Size);

    /// <summary>A vector column of the given shape, annotated with it when it has more than one dimension.</summary>
    public static OutputColumn Shaped(string name, IReadOnlyList<int> shape) =>
        new(name, shape.Aggregate(1, (a, b) => a * b), shape.Count > 1 ? a => ShapeAnnotation.Add(a, [.. shape]) : null);
}

/// <summary>
/// The one thing every transformer here does: read some input columns of a batch of rows, run a network on the
/// batch, and append output columns. Subclasses say which columns and how; <see cref="BatchMappedDataView"/> and
/// <see cref="BatchRowMapper"/> do the streaming.
/// </summary>
public abstract class BatchMapper
{
    /// <summary>The columns appended to the input, in order.</summary>
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
public abstract class BatchReader
{
    /// <summary>Reads the current row's inputs into <paramref name="slot"/>; <paramref name="position"/> is the row's place in the view.</summary>
    public abstract void ReadRow(int slot, long position);

    /// <summary>Fills <paramref name="vectors"/>[output][slot * size ..] or <paramref name="scalars"/>[output][slot].</summary>
    public abstract void Compute(int rows, float[][] vectors, int[][] scalars);
}
