using LatentDiffusion.Data;
using Microsoft.ML.Data;

// In ML.NET's namespace, as LoadMnist: mlContext.Data.LoadToyData is found without another using.
namespace Microsoft.ML;

/// <summary>The toy point clouds (diffusion on 2-D and 4-D vectors) for <see cref="MLContext.Data"/>.</summary>
public static class ToyDataCatalog
{
    /// <summary>
    /// The toy point clouds (the seed documents' 2-D experiments) as an <see cref="IDataView"/>: a <c>Features</c> column (Vector of 2 or 4 Single) and,
    /// for the moons-and-circles set, a <c>Label</c> column (Int32, 0..3). The same seed gives the same rows.
    /// </summary>
    /// <param name="catalog">The data catalog.</param>
    /// <param name="set">Which set.</param>
    /// <param name="rows">How many rows; the reference experiments used 1024 x 128 (<see cref="ToyData.SeedRows"/>).</param>
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
