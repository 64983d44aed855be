using LatentDiffusion.MLNet.Persistence;
using LatentDiffusion.Onnx;
using Microsoft.ML;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.Runtime;

namespace LatentDiffusion.MLNet;

/// <summary>ML.NET catalog entries of the ONNX Runtime package.</summary>
public static class OnnxCatalog
{
    /// <summary>
    /// Registers the loader of <see cref="OnnxGeneratorTransformer"/> with this context, so that <c>mlContext.Model.Load</c>
    /// can restore it in a fresh process; <see cref="GenerateWithOnnx"/> calls it for its own context.
    /// </summary>
    public static void RegisterLatentDiffusionOnnx(this ComponentCatalog catalog)
    {
        ArgumentNullException.ThrowIfNull(catalog);
        MLNetInternals.Register(catalog, [OnnxGeneratorTransformer.Format]);
    }

    /// <summary>
    /// A transformer that generates an image per request row from the model <c>ExportOnnx</c> wrote into
    /// <paramref name="folder"/>, on ONNX Runtime (<paramref name="sessionOptions"/>: execution provider and threads).
    /// Nothing to fit: like <c>mlContext.Model.Load</c>, it returns the transformer.
    /// </summary>
    public static OnnxGeneratorTransformer GenerateWithOnnx(this TransformsCatalog catalog, string folder, string outputColumnName = "GeneratedImage",
        string labelColumnName = "Label", string seedColumnName = "Seed", SessionOptions? sessionOptions = null)
    {
        ArgumentNullException.ThrowIfNull(catalog);
        MLNetInternals.EnvironmentOf(catalog).ComponentCatalog.RegisterLatentDiffusionOnnx();
        return new OnnxGeneratorTransformer(OnnxGenerator.Load(folder, sessionOptions), outputColumnName, labelColumnName, seedColumnName);
    }
}
