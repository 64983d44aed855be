
namespace LatentDiffusion.Data;

/// <summary>One MNIST split held as raw bytes (47 MB for train); pixels are scaled to [0,1] as rows are read.</summary>
public sealed class MnistDataset
{
    internal MnistDataset(byte[] pixels, byte[] labels, int rows, int columns)
    {
        Pixels = pixels;
        Labels = labels;
        Height = rows;
        Width = columns;
    }

    /// <summary>Row-major pixel bytes, one image after another.</summary>
    public ReadOnlyMemory<byte> Pixels { get; }

    /// <summary>Labels 0..9.</summary>
    public ReadOnlyMemory<byte> Labels { get; }

    /// <summary>Image height (28).</summary>
    public int Height { get; }

    /// <summary>Image width (28).</summary>
    public int Width { get; }

    /// <summary>Number of images.</summary>
    public int Count => Labels.Length;

    /// <summary>Pixels per image.</summary>
    public int ImageSize => Height * Width;
}
