using LatentDiffusion.IO;
using SkiaSharp;

namespace MnistLatentDiffusion.Reports;

/// <summary>PNG image grids, written atomically: grey or colour, any size, optionally with row and column labels.</summary>
public static class Pictures
{
    /// <summary>
    /// A grid of images (channel-planar floats in [0,1], shaped <paramref name="shape"/>: 1 or 3 channels), row-major,
    /// each scaled up by <paramref name="zoom"/>. With <paramref name="columnTitles"/> and <paramref name="rowTitles"/>
    /// a header row and column name them.
    /// </summary>
    public static void SaveGrid(string path, IReadOnlyList<float[]> cells, int columns, IReadOnlyList<int> shape, int zoom = 2,
        IReadOnlyList<string>? columnTitles = null, IReadOnlyList<string>? rowTitles = null)
    {
        int channels = shape[0], height = shape[1], width = shape[2];
        if (channels is not (1 or 3)) throw new ArgumentException($"A grid shows 1- or 3-channel images, not {channels}-channel ones.", nameof(shape));
        int rows = (cells.Count + columns - 1) / columns;
        int pad = 2, cellW = width * zoom + pad, cellH = height * zoom + pad;
        using var typeface = SKTypeface.FromFamilyName("DejaVu Sans") ?? SKTypeface.Default;
        using var paint = new SKPaint { Color = SKColors.White, IsAntialias = true, Typeface = typeface, TextSize = 12 };
        // The row titles' column is as wide as the widest title.
        int left = rowTitles is null ? 0 : 12 + (int)Math.Ceiling(rowTitles.Select(t => paint.MeasureText(t)).DefaultIfEmpty(0).Max());
        int top = columnTitles is null ? 0 : 22;
        using var bitmap = new SKBitmap(left + columns * cellW + pad, top + rows * cellH + pad, SKColorType.Rgba8888, SKAlphaType.Premul);
        using (var canvas = new SKCanvas(bitmap))
        {
            canvas.Clear(new SKColor(40, 40, 40));
            if (columnTitles is not null)
            {
                paint.TextAlign = SKTextAlign.Center;
                for (int c = 0; c < Math.Min(columns, columnTitles.Count); c++)
                    canvas.DrawText(columnTitles[c], left + pad + c * cellW + cellW / 2f, 15, paint);
            }
            if (rowTitles is not null)
            {
                paint.TextAlign = SKTextAlign.Right;
                for (int r = 0; r < Math.Min(rows, rowTitles.Count); r++)
                    canvas.DrawText(rowTitles[r], left - 6, top + pad + r * cellH + cellH / 2f + 4, paint);
            }
        }
        int plane = height * width;
        for (int i = 0; i < cells.Count; i++)
        {
            int x0 = left + pad + i % columns * cellW, y0 = top + pad + i / columns * cellH;
            for (int y = 0; y < height * zoom; y++)
                for (int x = 0; x < width * zoom; x++)
                {
                    int p = y / zoom * width + x / zoom;
                    byte Value(int c) => (byte)Math.Clamp(cells[i][(channels == 1 ? 0 : c) * plane + p] * 255f + 0.5f, 0, 255);
                    bitmap.SetPixel(x0 + x, y0 + y, new SKColor(Value(0), Value(1), Value(2)));
                }
        }
        using var image = SKImage.FromBitmap(bitmap);
        using var data = image.Encode(SKEncodedImageFormat.Png, 100);
        AtomicFile.Write(path, s => data.SaveTo(s));
    }
}
