using Microsoft.ML.Data;

namespace MnistLatentDiffusion.Jobs;

/// <summary>
/// A colour data set written as PNG files: on a white background, one filled rectangle or ellipse whose colour is the
/// label (0 red, 1 green, 2 blue), at a random place and size.
/// </summary>
public static class ColourShapes
{
    public static (string Path, int Label)[] Write(string folder, int count, int height, int width, int seed)
    {
        var random = new Random(seed);
        var files = new List<(string, int)>();
        for (int i = 0; i < count; i++)
        {
            int label = i % 3;
            var rgba = new byte[height * width * 4];
            Array.Fill(rgba, (byte)255);
            int h = random.Next(height / 3, height), w = random.Next(width / 3, width);
            int top = random.Next(0, height - h + 1), left = random.Next(0, width - w + 1);
            bool ellipse = random.Next(2) == 0;
            for (int y = top; y < top + h; y++)
                for (int x = left; x < left + w; x++)
                {
                    double dy = (y + 0.5 - top - h / 2.0) / (h / 2.0), dx = (x + 0.5 - left - w / 2.0) / (w / 2.0);
                    if (ellipse && dx * dx + dy * dy > 1) continue;
                    int p = 4 * (y * width + x);
                    rgba[p] = (byte)(label == 0 ? 220 : 30);
                    rgba[p + 1] = (byte)(label == 1 ? 200 : 30);
                    rgba[p + 2] = (byte)(label == 2 ? 220 : 30);
                }
            using var image = MLImage.CreateFromPixels(width, height, MLPixelFormat.Rgba32, rgba);
            string path = Path.Combine(folder, $"shape{i:D3}.png");
            image.Save(path);
            files.Add((path, label));
        }
        return [.. files];
    }
}

/// <summary>A row naming an image file and its label.</summary>
public sealed class ShapeFile
{
    public string Path { get; set; } = "";
    public int Label { get; set; }
}
