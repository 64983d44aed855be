using System.IO.Compression;
using System.Text.Json;
using LatentDiffusion.MLNet.Evaluation;
using LatentDiffusion.MLNet.Generation;
using Microsoft.Extensions.Logging;
using Microsoft.ML;

namespace MnistLatentDiffusion.CommandLine;

/// <summary>What the commands share to load models and report: one context, the saved generator and classifier, logging.</summary>
internal static class SavedModels
{
    public static readonly JsonSerializerOptions Indented = new() { WriteIndented = true };

    /// <summary>A context that can load every model file of the library.</summary>
    public static MLContext Context()
    {
        var ml = new MLContext(1);
        ml.ComponentCatalog.RegisterLatentDiffusion();
        return ml;
    }

    public static ILoggerFactory Logging(bool verbose, bool quiet = false) => LoggerFactory.Create(b =>
    {
        b.AddSimpleConsole(o => { o.SingleLine = true; o.TimestampFormat = "HH:mm:ss "; });
        b.SetMinimumLevel(verbose ? LogLevel.Debug : quiet ? LogLevel.Warning : LogLevel.Information);
    });

    /// <summary>
    /// Loads a model file, refusing in one sentence that names the option and the file one that is not a readable zip
    /// (before ML.NET opens it, which would leave a temporary folder behind) or that ML.NET cannot load.
    /// </summary>
    public static ITransformer Load(MLContext ml, string path, string option)
    {
        string file = PathChecks.ExistingFile(path, option);
        try
        {
            using var zip = ZipFile.OpenRead(file);
            if (zip.Entries.Count == 0) throw new InvalidDataException("it holds no entries");
        }
        catch (InvalidDataException e)
        {
            throw new CommandLineException($"{option} '{path}' is not a model file: it is not a readable zip archive ({e.Message.TrimEnd('.')}).");
        }
        try
        {
            return ml.Model.Load(file, out _);
        }
        catch (Exception e) when (e is InvalidOperationException or InvalidDataException or FormatException or IOException)
        {
            // The cause follows in parentheses (Cli.Guarded prints an inner exception's message); --verbose shows where.
            throw new InvalidDataException($"{option} '{path}' could not be loaded", e);
        }
    }

    /// <summary>The image generator a model file holds (alone, or the last of a chain).</summary>
    public static DigitGeneratorTransformer Generator(MLContext ml, string path, string option)
    {
        var loaded = Load(ml, path, option);
        return (loaded as IEnumerable<ITransformer>)?.OfType<DigitGeneratorTransformer>().LastOrDefault()
            ?? loaded as DigitGeneratorTransformer
            ?? throw new CommandLineException($"{option} '{path}' holds no image generator; give the model.zip a run writes.");
    }

    /// <summary>The FID classifier a classifier file holds.</summary>
    public static FidEvaluatorTransformer Classifier(MLContext ml, string path, string option) =>
        Load(ml, path, option) as FidEvaluatorTransformer
            ?? throw new CommandLineException($"{option} '{path}' holds no FID classifier; give the classifier.zip a run writes.");
}
