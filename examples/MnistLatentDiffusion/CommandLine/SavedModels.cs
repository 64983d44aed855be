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

    /// <summary>The image generator a model file holds (alone, or the last of a chain).</summary>
    public static DigitGeneratorTransformer Generator(MLContext ml, string path, string option)
    {
        var loaded = ml.Model.Load(PathChecks.ExistingFile(path, option), out _);
        return (loaded as IEnumerable<ITransformer>)?.OfType<DigitGeneratorTransformer>().LastOrDefault()
            ?? loaded as DigitGeneratorTransformer
            ?? throw new CommandLineException($"{option} '{path}' holds no image generator; give the model.zip a run writes.");
    }

    /// <summary>The FID classifier a classifier file holds.</summary>
    public static FidEvaluatorTransformer Classifier(MLContext ml, string path, string option) =>
        ml.Model.Load(PathChecks.ExistingFile(path, option), out _) as FidEvaluatorTransformer
            ?? throw new CommandLineException($"{option} '{path}' holds no FID classifier; give the classifier.zip a run writes.");
}
