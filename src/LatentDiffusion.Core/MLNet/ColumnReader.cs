using Microsoft.ML;
using Microsoft.ML.Data;

namespace LatentDiffusion.MLNet;

/// <summary>
/// Schema checks and column reading shared by the components. Every failure names the column, what was expected and
/// what was found, and happens before any training starts.
/// </summary>
public static class ColumnReader
{
    /// <summary>The column <paramref name="name"/>; a missing one is refused naming it, its <paramref name="purpose"/> and the columns there are.</summary>
    public static DataViewSchema.Column Require(DataViewSchema schema, string name, string purpose)
    {
        var column = schema.GetColumnOrNull(name);
        return column ?? throw Missing(name, purpose, schema.Where(c => !c.IsHidden).Select(c => c.Name));
    }

    /// <summary>The one message for a missing column, whether a schema or a schema shape (before fitting) lacks it.</summary>
    public static ArgumentOutOfRangeException Missing(string name, string purpose, IEnumerable<string> available) =>
        new(name, $"Column '{name}' ({purpose}) was not found in the input. Available columns: {string.Join(", ", available.Select(c => $"'{c}'"))}.");

    /// <summary>The one message for a column of the wrong type: what it must be and what it is.</summary>
    public static ArgumentOutOfRangeException WrongType(string name, string purpose, string expected, string actual) =>
        new(name, $"Column '{name}' ({purpose}) must be {expected}, but is {actual}.");

    /// <summary>What an integer column may be.</summary>
    public const string IntegerTypes = "an integer type (Int32, Int64, UInt32, Byte, or a key)";

    /// <summary>Requires a known-size vector of Single; <paramref name="expectedSize"/> 0 accepts any known size.</summary>
    public static int RequireFloatVector(DataViewSchema schema, string name, string purpose, int expectedSize = 0)
    {
        var column = Require(schema, name, purpose);
        return CheckFloatVector(name, column.Type, purpose, expectedSize);
    }

    /// <summary>Requires <paramref name="type"/> to be a known-size vector of Single (of <paramref name="expectedSize"/> unless 0); returns its size.</summary>
    public static int CheckFloatVector(string name, DataViewType type, string purpose, int expectedSize)
    {
        string expected = expectedSize > 0 ? $"Vector<Single, {expectedSize}>" : "a Vector<Single> of known size";
        if (type is not VectorDataViewType vector || vector.ItemType != NumberDataViewType.Single || !vector.IsKnownSize)
            throw WrongType(name, purpose, expected, $"{type}");
        if (expectedSize > 0 && vector.Size != expectedSize)
            throw new ArgumentOutOfRangeException(name, $"Column '{name}' ({purpose}) must be {expected}, but has size {vector.Size}.");
        return vector.Size;
    }

    /// <summary>Where a column's shape came from, for messages and logs.</summary>
    public enum ShapeSource
    {
        /// <summary>An option gave it.</summary>
        Option,

        /// <summary>The column's <see cref="ShapeAnnotation"/>.</summary>
        Annotation,

        /// <summary>The column type's own dimensions.</summary>
        ColumnType,

        /// <summary>Nowhere: the column is taken as flat.</summary>
        None,
    }

    /// <summary>
    /// The shape a column declares, from the first of: the option, the column's <see cref="ShapeAnnotation"/>, and
    /// ML.NET's own vector type when it has more than one dimension (ExtractPixels types its column
    /// Vector&lt;Single, planes, height, width&gt;). Null with <see cref="ShapeSource.None"/> when none says anything.
    /// This is the one place every component learns a column's shape from.
    /// </summary>
    public static (int[]? Shape, ShapeSource Source) DeclaredShape(DataViewSchema.Column column, int[]? option)
    {
        if (option is not null) return (option, ShapeSource.Option);
        if (ShapeAnnotation.Read(column) is { } annotated) return (annotated, ShapeSource.Annotation);
        if (column.Type is VectorDataViewType { Dimensions.Length: > 1 } vector) return (vector.Dimensions.ToArray(), ShapeSource.ColumnType);
        return (null, ShapeSource.None);
    }

    /// <summary>
    /// The (channels, height, width) of the images in a vector column of <paramref name="size"/> floats: the shape the
    /// column declares (<see cref="DeclaredShape"/>), else a square one-channel image when the size is a square.
    /// Throws naming the column (or the option), the shape and the size when they disagree or nothing fits.
    /// </summary>
    public static int[] ImageShape(DataViewSchema.Column column, int size, int[]? option, string optionName)
    {
        var (shape, source) = DeclaredShape(column, option);
        if (shape is null)
        {
            int side = (int)Math.Round(Math.Sqrt(size));
            if (side * side != size)
                throw new ArgumentOutOfRangeException(column.Name,
                    $"Column '{column.Name}' holds {size} values per row and declares no shape, and {size} is not a square one-channel image: "
                    + $"set {optionName} to its (channels, height, width), or extract the pixels with ML.NET's ExtractPixels, whose column type carries them.");
            return [1, side, side];
        }
        string at = source == ShapeSource.Option ? optionName : column.Name;
        if (shape.Length != 3 || shape.Any(d => d < 1))
            throw new ArgumentOutOfRangeException(at, $"[{string.Join(", ", shape)}]",
                $"The image shape of column '{column.Name}' (from {Describe(source, optionName)}) must be (channels, height, width), each at least 1.");
        if (source == ShapeSource.ColumnType && shape[2] <= 4 && shape[0] > 4)
            throw new ArgumentOutOfRangeException(column.Name, $"[{string.Join(", ", shape)}]",
                $"Column '{column.Name}' is typed [{string.Join(", ", shape)}], which reads as interleaved pixels (height, width, colours); "
                + $"extract them with interleavePixelColors: false (ExtractPixels' default), or set {optionName} if [{string.Join(", ", shape)}] "
                    + $"really is (channels, height, width).");
        if ((long)shape[0] * shape[1] * shape[2] != size)
            throw new ArgumentOutOfRangeException(at, $"[{string.Join(", ", shape)}]",
                $"Column '{column.Name}' holds {size} values per row, but the image shape [{string.Join(", ", shape)}] (from "
                    + $"{Describe(source, optionName)}) has {(long)shape[0] * shape[1] * shape[2]}.");
        return shape;
    }

    /// <summary>Words for where a shape came from.</summary>
    public static string Describe(ShapeSource source, string optionName) => source switch
    {
        ShapeSource.Option => optionName,
        ShapeSource.Annotation => $"its '{ShapeAnnotation.Name}' annotation",
        ShapeSource.ColumnType => "its ML.NET vector type",
        _ => "nothing: the column declares no shape",
    };

    /// <summary>
    /// Whether the first rows of a three-plane image column hold the same values in every plane: a grey image whose
    /// pixels were extracted as red, green and blue (ExtractPixels' default, even after ConvertToGrayscale).
    /// </summary>
    public static bool PlanesLookIdentical(float[] images, int rows, int[] shape, int rowsToCheck = 64)
    {
        if (shape.Length != 3 || shape[0] != 3 || rows == 0) return false;
        int plane = shape[1] * shape[2], size = 3 * plane;
        for (int r = 0; r < Math.Min(rows, rowsToCheck); r++)
            for (int i = 0; i < plane; i++)
            {
                float v = images[r * size + i];
                if (images[r * size + plane + i] != v || images[r * size + 2 * plane + i] != v) return false;
            }
        return true;
    }

    /// <summary>ML.NET's annotation (AnnotationUtils.Kinds.IsNormalized) that marks a column as already normalised.</summary>
    public const string IsNormalizedAnnotation = "IsNormalized";

    /// <summary>
    /// Whether <paramref name="column"/> carries ML.NET's <c>IsNormalized</c> annotation set to true (normalisers and
    /// the VAE's latent column do).
    /// </summary>
    public static bool IsNormalized(DataViewSchema.Column column)
    {
        if (column.Annotations.Schema.GetColumnOrNull(ColumnReader.IsNormalizedAnnotation) is not { Type: BooleanDataViewType }) return false;
        bool value = false;
        column.Annotations.GetValue(ColumnReader.IsNormalizedAnnotation, ref value);
        return value;
    }

    /// <summary>Integer-valued types accepted as labels and seeds.</summary>
    public static bool IsInteger(DataViewType type) =>
        type == NumberDataViewType.Int32 || type == NumberDataViewType.Int64 || type == NumberDataViewType.UInt32 ||
        type == NumberDataViewType.Int16 || type == NumberDataViewType.Byte || type == NumberDataViewType.UInt64 ||
        type == NumberDataViewType.UInt16 || type == NumberDataViewType.SByte || type is KeyDataViewType;

    /// <summary>Requires the column <paramref name="name"/> to be of an integer type (<see cref="IntegerTypes"/>).</summary>
    public static void RequireInteger(DataViewSchema schema, string name, string purpose)
    {
        var column = Require(schema, name, purpose);
        if (!IsInteger(column.Type))
            throw WrongType(name, purpose, IntegerTypes, $"{column.Type}");
    }

    /// <summary>
    /// A getter that reads any accepted integer column as Int64. Keys are 1-based in ML.NET; they become 0-based (missing = -1).
    /// UInt64 values above Int64's range are refused, naming the column, unless <paramref name="bits"/> says the value is
    /// only a bit pattern (a seed), which is then kept whole.
    /// </summary>
    public static Func<long> IntegerGetter(DataViewRow row, DataViewSchema.Column column, bool bits = false)
    {
        switch (column.Type)
        {
            // Keys count from 1 (0 = missing): key k is label k - 1.
            case KeyDataViewType key when key.RawType == typeof(uint): return Getter<uint>(row, column, v => (long)v - 1);
            case KeyDataViewType key when key.RawType == typeof(ulong): return Getter<ulong>(row, column, v => (long)v - 1);
            case KeyDataViewType key when key.RawType == typeof(ushort): return Getter<ushort>(row, column, v => v - 1);
            case KeyDataViewType key when key.RawType == typeof(byte): return Getter<byte>(row, column, v => v - 1);
        }
        var t = column.Type.RawType;
        if (t == typeof(int)) return Getter<int>(row, column, v => v);
        if (t == typeof(long)) return Getter<long>(row, column, v => v);
        if (t == typeof(uint)) return Getter<uint>(row, column, v => v);
        if (t == typeof(ulong))
        {
            var g = row.GetGetter<ulong>(column);
            ulong v = 0;
            string name = column.Name;
            return () =>
            {
                g(ref v);
                if (!bits && v > long.MaxValue)
                    throw new ArgumentOutOfRangeException(name,
                        $"Column '{name}' holds the UInt64 value {v}, above the largest value it can hold here ({long.MaxValue}).");
                return unchecked((long)v);
            };
        }
        if (t == typeof(short)) return Getter<short>(row, column, v => v);
        if (t == typeof(ushort)) return Getter<ushort>(row, column, v => v);
        if (t == typeof(byte)) return Getter<byte>(row, column, v => v);
        if (t == typeof(sbyte)) return Getter<sbyte>(row, column, v => v);
        throw new ArgumentOutOfRangeException(column.Name, $"Column '{column.Name}' must be an integer type, but is {column.Type}.");
    }

    private static Func<long> Getter<T>(DataViewRow row, DataViewSchema.Column column, Func<T, long> value)
    {
        var getter = row.GetGetter<T>(column);
        T v = default!;
        return () =>
        {
            getter(ref v);
            return value(v);
        };
    }

    /// <summary>Copies a float vector cell into <paramref name="destination"/>, rejecting NaN and infinity.</summary>
    public static void CopyFinite(in VBuffer<float> value, Span<float> destination, string column, long row)
    {
        if (value.Length != destination.Length)
            throw new ArgumentOutOfRangeException(column, $"Column '{column}', row {row}: expected {destination.Length} values, got {value.Length}.");
        value.CopyTo(destination);
        for (int i = 0; i < destination.Length; i++)
            if (!float.IsFinite(destination[i]))
                throw new ArgumentOutOfRangeException(column, $"Column '{column}', row {row}: value {i} is {destination[i]}; expected finite numbers.");
    }

    /// <summary>The error for a view without rows to train on.</summary>
    public static ArgumentException NoRows(string vectorColumn, string parameter) =>
        new($"The input has no rows: column '{vectorColumn}' needs at least one row to train on.", parameter);
}
