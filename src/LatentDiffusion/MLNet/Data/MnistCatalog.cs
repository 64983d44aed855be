using LatentDiffusion.Data;
using LatentDiffusion.MLNet.Data;

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
}
