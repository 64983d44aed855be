using LatentDiffusion.IO;
using LatentDiffusion.Training;
using SkiaSharp;

namespace MnistLatentDiffusion;

/// <summary>PNG output: image grids and loss curves, written atomically.</summary>
public static class Pictures
{
    /// <summary>A grid of grayscale square images (row-major cells), each scaled up by <paramref name="zoom"/>.</summary>
    public static void SaveGrid(string path, IReadOnlyList<float[]> cells, int columns, int side, int zoom = 2)
    {
        int rows = (cells.Count + columns - 1) / columns;
        int pad = 2, cell = side * zoom + pad;
        using var bitmap = new SKBitmap(columns * cell + pad, rows * cell + pad, SKColorType.Gray8, SKAlphaType.Opaque);
        bitmap.Erase(new SKColor(40, 40, 40));
        for (int i = 0; i < cells.Count; i++)
        {
            int x0 = pad + i % columns * cell, y0 = pad + i / columns * cell;
            for (int y = 0; y < side * zoom; y++)
                for (int x = 0; x < side * zoom; x++)
                {
                    byte v = (byte)Math.Clamp(cells[i][y / zoom * side + x / zoom] * 255f + 0.5f, 0, 255);
                    bitmap.SetPixel(x0 + x, y0 + y, new SKColor(v, v, v));
                }
        }
        Save(path, bitmap);
    }

    /// <summary>Training (solid) and validation (dashed) loss per epoch, one panel per model, log-scaled.</summary>
    public static void SaveLossCurves(string path, IReadOnlyList<(string Name, TrainingHistory History)> models)
    {
        int panelW = 420, panelH = 300, margin = 50;
        using var bitmap = new SKBitmap(panelW * models.Count, panelH, SKColorType.Rgba8888, SKAlphaType.Premul);
        using var canvas = new SKCanvas(bitmap);
        canvas.Clear(SKColors.White);
        using var text = new SKPaint { Color = SKColors.Black, IsAntialias = true, TextSize = 13 };
        using var axis = new SKPaint { Color = SKColors.Gray, StrokeWidth = 1, IsAntialias = true, Style = SKPaintStyle.Stroke };
        using var train = new SKPaint { Color = new SKColor(31, 119, 180), StrokeWidth = 2, IsAntialias = true, Style = SKPaintStyle.Stroke };
        using var val = new SKPaint { Color = new SKColor(255, 127, 14), StrokeWidth = 2, IsAntialias = true, Style = SKPaintStyle.Stroke, PathEffect = SKPathEffect.CreateDash([6, 4], 0) };
        for (int m = 0; m < models.Count; m++)
        {
            var (name, history) = models[m];
            float left = m * panelW + margin, right = (m + 1) * panelW - 15, top = 30, bottom = panelH - 40;
            Text(canvas, $"{name} loss (log scale)", left, 20, SKTextAlign.Left, text);
            canvas.DrawRect(left, top, right - left, bottom - top, axis);
            var epochs = history.Epochs;
            var values = epochs.SelectMany(e => new[] { e.TrainLoss, e.ValidationLoss }).Where(v => double.IsFinite(v) && v > 0).ToList();
            if (epochs.Count == 0 || values.Count == 0) continue;
            double lo = Math.Log10(values.Min()), hi = Math.Log10(values.Max());
            if (hi - lo < 1e-6) { lo -= 0.05; hi += 0.05; }
            float X(int i) => epochs.Count == 1 ? (left + right) / 2 : left + (right - left) * i / (epochs.Count - 1);
            float Y(double v) => (float)(bottom - (bottom - top) * (Math.Log10(v) - lo) / (hi - lo));
            Text(canvas, $"{Math.Pow(10, hi):G3}", left - 4, top + 10, SKTextAlign.Right, text);
            Text(canvas, $"{Math.Pow(10, lo):G3}", left - 4, bottom, SKTextAlign.Right, text);
            Text(canvas, "epoch 1", left, bottom + 16, SKTextAlign.Left, text);
            Text(canvas, $"epoch {epochs.Count}", right, bottom + 16, SKTextAlign.Right, text);
            void Curve(Func<EpochRecord, double> pick, SKPaint paint)
            {
                using var line = new SKPath();
                bool started = false;
                for (int i = 0; i < epochs.Count; i++)
                {
                    double v = pick(epochs[i]);
                    if (!double.IsFinite(v) || v <= 0) continue;
                    if (!started) { line.MoveTo(X(i), Y(v)); started = true; } else line.LineTo(X(i), Y(v));
                    canvas.DrawCircle(X(i), Y(v), 2.5f, paint);
                }
                canvas.DrawPath(line, paint);
            }
            Curve(e => e.TrainLoss, train);
            Curve(e => e.ValidationLoss, val);
            canvas.DrawLine(right - 150, bottom + 30, right - 130, bottom + 30, train);
            Text(canvas, "train", right - 126, bottom + 34, SKTextAlign.Left, text);
            canvas.DrawLine(right - 80, bottom + 30, right - 60, bottom + 30, val);
            Text(canvas, "validation", right - 56, bottom + 34, SKTextAlign.Left, text);
        }
        Save(path, bitmap);
    }

    private static void Text(SKCanvas canvas, string value, float x, float y, SKTextAlign align, SKPaint paint)
    {
        paint.TextAlign = align;
        canvas.DrawText(value, x, y, paint);
    }

    private static void Save(string path, SKBitmap bitmap)
    {
        using var image = SKImage.FromBitmap(bitmap);
        using var data = image.Encode(SKEncodedImageFormat.Png, 100);
        AtomicFile.Write(path, s => data.SaveTo(s));
    }
}
