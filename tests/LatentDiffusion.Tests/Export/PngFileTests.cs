using LatentDiffusion.MLNet;
using LatentDiffusion.Onnx;
using Microsoft.ML.Data;

namespace LatentDiffusion.Tests.Export;

/// <summary>The runtime's own PNG writer, read back by ML.NET's image loader.</summary>
public class PngFileTests : IDisposable
{
    private readonly string folder = Directory.CreateTempSubdirectory("ld-png-").FullName;

    public void Dispose() => Directory.Delete(folder, recursive: true);

    [Theory]
    [InlineData(1, 5, 7)]
    [InlineData(3, 4, 6)]
    public void A_png_reads_back_as_the_pixels_written(int channels, int height, int width)
    {
        var random = new Random(channels);
        var pixels = Enumerable.Range(0, channels * height * width).Select(_ => (float)random.Next(256) / 255).ToArray();
        string path = Path.Combine(folder, $"image{channels}.png");
        PngFile.Save(pixels, [channels, height, width], path);
        using var image = MLImage.CreateFromFile(path);
        Assert.Equal((width, height), (image.Width, image.Height));
        var read = MLImages.ToPixels(image, channels);
        Assert.Equal(pixels.Length, read.Length);
        Assert.True(pixels.Zip(read, (a, b) => Math.Abs(a - b)).Max() < 1e-6, "the pixels changed on the way through the file");

        var shape = Assert.Throws<ArgumentException>(() => PngFile.Save(pixels, [2, height, width], path));
        Assert.Contains("channels (1 or 3)", shape.Message);
    }
}
