using LatentDiffusion.Diffusion;
using LatentDiffusion.Onnx;

namespace DigitServer;

/// <summary>An exported folder (<c>ExportOnnx</c>) on ONNX Runtime.</summary>
public sealed class OnnxEngine(OnnxGenerator generator) : IDigitEngine
{
    public string Name => "onnx";
    public int Classes => generator.Classes;
    public IReadOnlyList<int> ImageShape => generator.ImageShape;
    public SamplingOptions Sampling => generator.Sampling;
    public void Validate(SamplingOptions sampling) => generator.Generate([], [], sampling);
    public float[] Generate(int[] labels, long[] seeds, SamplingOptions sampling) => generator.Generate(labels, seeds, sampling);
    public void Dispose() => generator.Dispose();
}
