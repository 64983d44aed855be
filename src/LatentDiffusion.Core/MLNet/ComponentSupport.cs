using LatentDiffusion.MLNet.Persistence;
using Microsoft.ML;
using Microsoft.ML.Data;

namespace LatentDiffusion.MLNet;

/// <summary>Small pieces every estimator shares: schema-shape propagation and finding the MLContext behind a catalog.</summary>
public static class ComponentSupport
{
    /// <summary>
    /// The input shape plus <paramref name="outputs"/>; ML.NET's SchemaShape.Column constructor is internal, so the new
    /// columns go through a real schema.
    /// </summary>
    public static SchemaShape Append(SchemaShape input, IEnumerable<OutputColumn> outputs)
    {
        var builder = new DataViewSchema.Builder();
        var list = outputs.ToList();
        foreach (var o in list) builder.AddColumn(o.Name, o.Type, Annotations(o));
        var added = MLNetInternals.ShapeOf(builder.ToSchema());
        var names = list.Select(o => o.Name).ToHashSet();
        return new SchemaShape(input.Where(c => !names.Contains(c.Name)).Concat(added));
    }

    private static DataViewSchema.Annotations? Annotations(OutputColumn o)
    {
        if (o.Annotations is null) return null;
        var a = new DataViewSchema.Annotations.Builder();
        o.Annotations(a);
        return a.ToAnnotations();
    }

    /// <summary>
    /// The column <paramref name="name"/> of a schema shape (before fitting); a missing one is refused as <see
    /// cref="ColumnReader.Require"/> refuses it.
    /// </summary>
    public static SchemaShape.Column RequireShape(SchemaShape input, string name, string purpose)
    {
        foreach (var column in input)
            if (column.Name == name) return column;
        throw ColumnReader.Missing(name, purpose, input.Select(c => c.Name));
    }

    /// <summary>Requires the column of a schema shape to be a vector of Single.</summary>
    public static void RequireFloatVectorShape(SchemaShape input, string name, string purpose)
    {
        var c = RequireShape(input, name, purpose);
        if (c.Kind != SchemaShape.Column.VectorKind.Vector || c.ItemType != NumberDataViewType.Single)
            throw ColumnReader.WrongType(name, purpose, "a Vector<Single> of known size", $"{c.Kind} of {c.ItemType}");
    }

    /// <summary>Requires the column of a schema shape to be an integer scalar or a key.</summary>
    public static void RequireIntegerShape(SchemaShape input, string name, string purpose)
    {
        var c = RequireShape(input, name, purpose);
        if (c.Kind != SchemaShape.Column.VectorKind.Scalar || !(c.IsKey || ColumnReader.IsInteger(c.ItemType)))
            throw ColumnReader.WrongType(name, purpose, ColumnReader.IntegerTypes, $"{c.Kind} of {c.ItemType}");
    }

    /// <summary>Checks a column that may be absent (request labels, seeds): when present it must be an integer scalar.</summary>
    public static void OptionalIntegerShape(SchemaShape input, string name, string purpose)
    {
        if (input.Any(c => c.Name == name)) RequireIntegerShape(input, name, purpose);
    }

    /// <summary>Row seeds: the seed column's value, or the component seed mixed with the row position when there is no seed column.</summary>
    public static long RowSeed(int seed, long position) => unchecked(seed * 1_000_003L + position);
}
