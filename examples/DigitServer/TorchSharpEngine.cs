using LatentDiffusion.Diffusion;
using LatentDiffusion.MLNet.Generation;
using Microsoft.ML;
using Microsoft.ML.Data;

namespace DigitServer;

/// <summary>A TorchSharp model file (<c>mlContext.Model.Save</c> of a <see cref="DigitGeneratorTransformer"/>).</summary>
public sealed class TorchSharpEngine(DigitGeneratorTransformer generator) : IDigitEngine
{
    public static TorchSharpEngine Load(string path)
    {
        var ml = new MLContext(seed: 1);
        ml.ComponentCatalog.RegisterLatentDiffusion();
        var model = ml.Model.Load(path, out _);
        // A generator saved alone, or at the end of a chain (encoder -> diffusion -> generator).
        var generator = model as DigitGeneratorTransformer ?? (model as TransformerChain<ITransformer>)?.LastTransformer as DigitGeneratorTransformer;
        return new TorchSharpEngine(generator ?? throw new InvalidDataException(
            $"Generator:Path '{path}' holds a {model.GetType().Name}, expected a digit generator (GenerateDigits) or a chain that ends in one."));
    }

    public string Name => "torchsharp";
    public int Classes => generator.Diffusion.Classes;
    public IReadOnlyList<int> ImageShape => generator.ImageShape;
    public SamplingOptions Sampling => generator.Diffusion.Sampling;
    public void Validate(SamplingOptions sampling) => sampling.Validate(generator.Diffusion.Config.Process);
    public float[] Generate(int[] labels, long[] seeds, SamplingOptions sampling) => generator.WithSampling(sampling).Generate(labels, seeds);
    public void Dispose() { }
}
