using System.Globalization;
using System.Text.Json.Nodes;
using LatentDiffusion.IO;
using LatentDiffusion.MLNet.Evaluation;
using MnistLatentDiffusion.CommandLine;
using Spectre.Console;

namespace MnistLatentDiffusion.Commands;

/// <summary>The evaluation's table and JSON: the same for one process and for merged shards.</summary>
internal static class EvaluationTable
{
    /// <summary>Below this many images on either side FID reads clearly high: its estimate is biased upwards as the samples shrink.</summary>
    private const int FidMinimumImages = 2000;

    public static void Print(GeneratorMetrics metrics, string source, int? passes, string jsonPath)
    {
        foreach (var (what, n) in new[] { ("evaluated", metrics.GeneratedCount), ("reference", metrics.ReferenceCount) })
            if (n < FidMinimumImages)
                Console.Error.WriteLine($"warning: only {n} {what} images. FID is biased upwards for small samples (200 real test digits score about 150 "
                    + $"against 100 reference digits and 79 against 10,000); compare FIDs only at equal sizes, and use {FidMinimumImages:N0} or more on "
                        + $"each side.");
        var result = new JsonObject
        {
            ["source"] = source, ["evaluatedImages"] = metrics.GeneratedCount, ["referenceImages"] = metrics.ReferenceCount,
            ["fid"] = metrics.Fid, ["kidMean"] = metrics.KidMean, ["kidStd"] = metrics.KidStd, ["precision"] = metrics.Precision, ["recall"] = metrics.Recall,
            ["accuracy"] = metrics.ConditionalAccuracy, ["labelEntropy"] = metrics.LabelEntropy, ["networkPassesPerImage"] = passes,
        };
        AtomicFile.WriteAllText(jsonPath, result.ToJsonString(SavedModels.Indented));
        var table = new Table().AddColumn("measure").AddColumn(new TableColumn("value").RightAligned());
        table.AddRow("evaluated", Markup.Escape(source));
        table.AddRow("images (evaluated / reference)", $"{metrics.GeneratedCount:N0} / {metrics.ReferenceCount:N0}");
        if (passes is { } p) table.AddRow("network passes per image (guidance included)", p.ToString(CultureInfo.InvariantCulture));
        table.AddRow("FID", metrics.Fid.ToString("F3", CultureInfo.InvariantCulture));
        table.AddRow("KID (mean +- std over subsets)", $"{metrics.KidMean:F3} +- {metrics.KidStd:F3}");
        table.AddRow("precision / recall (k = 3)", $"{metrics.Precision:F3} / {metrics.Recall:F3}");
        table.AddRow("accuracy on the labels asked for", metrics.ConditionalAccuracy is { } a ? a.ToString("P2",
            CultureInfo.InvariantCulture) : "- (no labels)");
        table.AddRow("label entropy (ln 10 = 2.303 when balanced)", metrics.LabelEntropy.ToString("F3", CultureInfo.InvariantCulture));
        AnsiConsole.Write(table);
        Console.WriteLine($"Wrote {jsonPath}");
    }
}
