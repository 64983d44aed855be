using LatentDiffusion.Data;
using LatentDiffusion.MLNet;
using Microsoft.ML.Data;

// The extension lives in ML.NET's namespace so that mlContext.Data.LoadMnist is found without another using.
namespace Microsoft.ML;

/// <summary>MNIST loading for <see cref="MLContext.Data"/>.</summary>
public static class MnistCatalog
{
    /// <summary>Default name of the label column (Int32, 0..9).</summary>
    public const string LabelColumn = "Label";

    /// <summary>Default name of the image column (784 floats in [0,1], row-major 28x28).</summary>
    public const string ImageColumn = "Image";

    /// <summary>
    /// Loads an MNIST split as an <see cref="IDataView"/> with a <c>Label</c> column (Int32) and an <c>Image</c> column
    /// (vector of 784 floats in [0,1]). The files are fetched into a cache folder on first use and verified by SHA-256.
    /// </summary>
    /// <param name="catalog">The data catalog.</param>
    /// <param name="split">Train (60,000 rows) or test (10,000 rows).</param>
    /// <param name="options">Cache folder and sources; defaults are documented on <see cref="MnistOptions"/>.</param>
    /// <param name="labelColumn">Name of the label column.</param>
    /// <param name="imageColumn">Name of the image column.</param>
    public static IDataView LoadMnist(this DataOperationsCatalog catalog, MnistSplit split, MnistOptions? options = null,
        string labelColumn = LabelColumn, string imageColumn = ImageColumn)
    {
        ArgumentNullException.ThrowIfNull(catalog);
        return new MnistDataView(MnistProvider.Load(split, options), labelColumn, imageColumn);
    }

    /// <summary>
    /// Seed 001's point clouds as an <see cref="IDataView"/>: a <c>Features</c> column (Vector of 2 or 4 Single) and,
    /// for the moons-and-circles set, a <c>Label</c> column (Int32, 0..3). The same seed gives the same rows.
    /// </summary>
    /// <param name="catalog">The data catalog.</param>
    /// <param name="set">Which set.</param>
    /// <param name="rows">How many rows; seed 001 used 1024 x 128 (<see cref="ToyData.SeedRows"/>).</param>
    /// <param name="seed">The seed of every random draw.</param>
    public static IDataView LoadToyData(this DataOperationsCatalog catalog, ToyDataSet set, int rows = ToyData.SeedRows, int seed = 1)
    {
        ArgumentNullException.ThrowIfNull(catalog);
        var (values, labels) = ToyData.Generate(set, rows, seed);
        int dims = ToyData.Dimensions(set);
        float[] Row(int i) => values[(i * dims)..((i + 1) * dims)];
        if (ToyData.Classes(set) == 0)
            return Load(catalog, Enumerable.Range(0, rows).Select(i => new ToyRow { Features = Row(i) }).ToArray(), dims);
        return Load(catalog, Enumerable.Range(0, rows).Select(i => new LabelledToyRow { Features = Row(i), Label = labels[i] }).ToArray(), dims);
    }

    private static IDataView Load<T>(DataOperationsCatalog catalog, T[] rows, int dims) where T : class
    {
        var schema = SchemaDefinition.Create(typeof(T));
        schema[nameof(ToyRow.Features)].ColumnType = new VectorDataViewType(NumberDataViewType.Single, dims);
        return catalog.LoadFromEnumerable(rows, schema);
    }

    private sealed class LabelledToyRow
    {
        public float[] Features { get; set; } = [];
        public int Label { get; set; }
    }

    private sealed class ToyRow
    {
        public float[] Features { get; set; } = [];
    }
}
