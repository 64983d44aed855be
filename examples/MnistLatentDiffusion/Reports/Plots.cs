using LatentDiffusion.IO;
using OxyPlot;
using OxyPlot.Axes;
using OxyPlot.Legends;
using OxyPlot.Series;
using OxyPlot.SkiaSharp;
using SkiaSharp;

namespace MnistLatentDiffusion.Reports;

/// <summary>One scatter series of a panel.</summary>
public sealed record ScatterSeriesData(string Name, float[] X, float[] Y, OxyColor Color, double Size = 1.2);

/// <summary>One panel: a title, axis names and scatter series; optional fixed axis ranges so panels compare.</summary>
public sealed record ScatterPanel(string Title, string XAxis, string YAxis, IReadOnlyList<ScatterSeriesData> Series,
    (double Min, double Max)? XRange = null, (double Min, double Max)? YRange = null);

/// <summary>Plots drawn with OxyPlot (titled, labelled axes with ticks), several panels side by side in one PNG, written atomically.</summary>
public static class Plots
{
    public static readonly OxyColor Data = OxyColor.FromRgb(120, 120, 120), Generated = OxyColor.FromRgb(214, 39, 40);
    public static readonly OxyColor[] Classes =
        [OxyColor.FromRgb(31, 119, 180), OxyColor.FromRgb(255, 127, 14), OxyColor.FromRgb(44, 160, 44), OxyColor.FromRgb(148, 103, 189)];

    public static void SaveScatterPanels(string path, IReadOnlyList<ScatterPanel> panels, int columns, int panelWidth = 420, int panelHeight = 380)
    {
        var models = panels.Select(Model).ToList();
        SaveModels(path, models, columns, panelWidth, panelHeight);
    }

    private static PlotModel Model(ScatterPanel panel)
    {
        var model = new PlotModel { Title = panel.Title, TitleFontSize = 13, Background = OxyColors.White };
        model.Axes.Add(Axis(AxisPosition.Bottom, panel.XAxis, panel.XRange));
        model.Axes.Add(Axis(AxisPosition.Left, panel.YAxis, panel.YRange));
        foreach (var s in panel.Series)
        {
            var series = new ScatterSeries { Title = s.Name, MarkerType = MarkerType.Circle, MarkerSize = s.Size, MarkerFill = s.Color,
                MarkerStroke = OxyColors.Undefined };
            for (int i = 0; i < s.X.Length; i++) series.Points.Add(new ScatterPoint(s.X[i], s.Y[i]));
            model.Series.Add(series);
        }
        if (panel.Series.Count > 1) model.Legends.Add(new Legend { LegendPosition = LegendPosition.TopRight, LegendBackground = OxyColor.FromAColor(200,
            OxyColors.White) });
        return model;
    }

    private static LinearAxis Axis(AxisPosition position, string title, (double Min, double Max)? range)
    {
        var axis = new LinearAxis { Position = position, Title = title, MajorGridlineStyle = LineStyle.Dot, MajorGridlineColor = OxyColor.FromRgb(220, 220,
            220) };
        if (range is { } r) (axis.Minimum, axis.Maximum) = (r.Min, r.Max);
        return axis;
    }

    /// <summary>Line plots of training curves: one panel per model, training and validation loss against the epoch, log scale.</summary>
    public static void SaveLossCurves(string path, IReadOnlyList<(string Name, LatentDiffusion.Training.TrainingHistory History)> histories)
    {
        var models = new List<PlotModel>();
        foreach (var (name, history) in histories)
        {
            var model = new PlotModel { Title = $"{name}", TitleFontSize = 13, Background = OxyColors.White };
            model.Axes.Add(new LinearAxis { Position = AxisPosition.Bottom, Title = "epoch", MinimumPadding = 0.05, MaximumPadding = 0.05,
                MajorGridlineStyle = LineStyle.Dot });
            model.Axes.Add(new LogarithmicAxis { Position = AxisPosition.Left, Title = "loss (log scale)", MajorGridlineStyle = LineStyle.Dot });
            var train = new LineSeries { Title = "training", Color = Classes[0], MarkerType = MarkerType.Circle, MarkerSize = 2 };
            var validation = new LineSeries { Title = "validation", Color = Classes[1], LineStyle = LineStyle.Dash, MarkerType = MarkerType.Circle,
                MarkerSize = 2 };
            foreach (var e in history.Epochs)
            {
                if (double.IsFinite(e.TrainLoss) && e.TrainLoss > 0) train.Points.Add(new DataPoint(e.Epoch, e.TrainLoss));
                if (double.IsFinite(e.ValidationLoss) && e.ValidationLoss > 0) validation.Points.Add(new DataPoint(e.Epoch, e.ValidationLoss));
            }
            model.Series.Add(train);
            if (validation.Points.Count > 0) model.Series.Add(validation);
            model.Legends.Add(new Legend { LegendPosition = LegendPosition.TopRight });
            models.Add(model);
        }
        SaveModels(path, models, models.Count, 420, 320);
    }

    /// <summary>One plot, as a PNG.</summary>
    public static void SaveModel(string path, PlotModel model, int width, int height) => SaveModels(path, [model], 1, width, height);

    private static void SaveModels(string path, IReadOnlyList<PlotModel> models, int columns, int panelWidth, int panelHeight)
    {
        int rows = (models.Count + columns - 1) / columns;
        using var sheet = new SKBitmap(columns * panelWidth, rows * panelHeight, SKColorType.Rgba8888, SKAlphaType.Premul);
        using (var canvas = new SKCanvas(sheet))
        {
            canvas.Clear(SKColors.White);
            var exporter = new PngExporter { Width = panelWidth, Height = panelHeight };
            for (int i = 0; i < models.Count; i++)
            {
                using var png = new MemoryStream();
                exporter.Export(models[i], png);
                png.Position = 0;
                using var panel = SKBitmap.Decode(png);
                canvas.DrawBitmap(panel, i % columns * panelWidth, i / columns * panelHeight);
            }
        }
        using var image = SKImage.FromBitmap(sheet);
        using var data = image.Encode(SKEncodedImageFormat.Png, 100);
        AtomicFile.WriteAllBytes(path, data.ToArray());
    }
}
