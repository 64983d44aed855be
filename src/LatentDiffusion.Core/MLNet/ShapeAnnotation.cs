using Microsoft.ML;
using Microsoft.ML.Data;

namespace LatentDiffusion.MLNet;

/// <summary>
/// The annotation that records the tensor shape of a flat vector column, for example (4, 7, 7) on the VAE's latent
/// column: a Vector&lt;Int32&gt; with one entry per dimension. The diffusion trainer reads it to know what it learns.
/// </summary>
public static class ShapeAnnotation
{
    /// <summary>The annotation's name.</summary>
    public const string Name = "Shape";

    /// <summary>Adds the annotation recording <paramref name="shape"/>.</summary>
    public static void Add(DataViewSchema.Annotations.Builder builder, int[] shape)
    {
        var copy = shape.ToArray();
        builder.Add(Name, new VectorDataViewType(NumberDataViewType.Int32, copy.Length),
            (ValueGetter<VBuffer<int>>)((ref VBuffer<int> v) => v = new VBuffer<int>(copy.Length, copy.ToArray())));
    }

    /// <summary>The shape recorded on <paramref name="column"/>, or null when it carries none.</summary>
    public static int[]? Read(DataViewSchema.Column column)
    {
        if (column.Annotations.Schema.GetColumnOrNull(Name) is not { } annotation) return null;
        if (annotation.Type is not VectorDataViewType { ItemType: var item } || item != NumberDataViewType.Int32)
            throw new ArgumentOutOfRangeException(column.Name,
                $"Column '{column.Name}' has a '{Name}' annotation of type {annotation.Type}; expected a vector of Int32.");
        VBuffer<int> value = default;
        column.Annotations.GetValue(Name, ref value);
        return value.DenseValues().ToArray();
    }
}
