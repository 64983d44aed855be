using Microsoft.ML;
using Microsoft.ML.Transforms.Image;
using MnistLatentDiffusion.CommandLine;

namespace MnistLatentDiffusion.Commands;

/// <summary>
/// The images of a folder (PNG and JPEG, searched recursively) in a classifier's shape, through ML.NET's
/// ImageAnalytics; labels from a CSV of 'file,label' lines, or from sub-folders named 0..9 when every image is in one.
/// </summary>
internal static class FolderImages
{
    public static IDataView Load(MLContext ml, string folder, string? labelsFile, IReadOnlyList<int> shape, out string? labelColumn)
    {
        var files = Directory.EnumerateFiles(folder, "*", SearchOption.AllDirectories)
            .Where(f => f.EndsWith(".png", StringComparison.OrdinalIgnoreCase) || f.EndsWith(".jpg", StringComparison.OrdinalIgnoreCase)
                || f.EndsWith(".jpeg", StringComparison.OrdinalIgnoreCase))
            .Order(StringComparer.Ordinal).ToArray();
        if (files.Length < 2) throw new CommandLineException($"--folder '{folder}' holds {files.Length} PNG or JPEG images; FID needs at least 2.");
        var labels = labelsFile is not null ? FromFile(folder, labelsFile, files) : FromSubfolders(folder, files);
        // Full paths, so LoadImages takes no folder of its own.
        var rows = ml.Data.LoadFromEnumerable(files.Select(f => new ImageFile { Path = f, Label = labels?[f] ?? -1 }));
        var colours = shape[0] == 3 ? ImagePixelExtractingEstimator.ColorBits.Rgb : ImagePixelExtractingEstimator.ColorBits.Blue;
        IEstimator<ITransformer> pipeline = ml.Transforms.LoadImages("Picture", null, nameof(ImageFile.Path))
            .Append(ml.Transforms.ResizeImages("Picture", shape[2], shape[1]));
        if (shape[0] == 1) pipeline = pipeline.Append(ml.Transforms.ConvertToGrayscale("Picture"));
        pipeline = pipeline.Append(ml.Transforms.ExtractPixels("Image", "Picture", colours, scaleImage: 1f / 255));
        labelColumn = labels is null ? null : nameof(ImageFile.Label);
        return pipeline.Fit(rows).Transform(rows);
    }

    private static Dictionary<string, int> FromFile(string folder, string labelsFile, string[] files)
    {
        string path = PathChecks.ExistingFile(labelsFile, "--labels-file");
        var labels = new Dictionary<string, int>();
        int line = 0;
        foreach (var text in File.ReadLines(path))
        {
            line++;
            if (string.IsNullOrWhiteSpace(text)) continue;
            var parts = text.Split(',', StringSplitOptions.TrimEntries);
            if (parts.Length != 2 || !int.TryParse(parts[1], out int label) || label is < 0 or > 9)
                throw new CommandLineException($"--labels-file '{labelsFile}', line {line}: expected 'file,label' with a label in 0..9, got '{text}'.");
            labels[Path.GetFullPath(Path.Combine(folder, parts[0]))] = label;
        }
        var missing = files.FirstOrDefault(f => !labels.ContainsKey(f));
        if (missing is not null) throw new CommandLineException($"--labels-file '{labelsFile}' gives no label for {Path.GetRelativePath(folder, missing)}.");
        return labels;
    }

    private static Dictionary<string, int>? FromSubfolders(string folder, string[] files) =>
        files.All(f => Path.GetDirectoryName(Path.GetRelativePath(folder, f)) is { Length: 1 } d && char.IsAsciiDigit(d[0]))
            ? files.ToDictionary(f => f, f => Path.GetDirectoryName(Path.GetRelativePath(folder, f))![0] - '0')
            : null;

    private sealed class ImageFile
    {
        public string Path { get; set; } = "";
        public int Label { get; set; }
    }
}
