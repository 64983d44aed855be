using LatentDiffusion.Diffusion;
using LatentDiffusion.Onnx;

namespace DigitServer;

/// <summary>
/// A saved generator on one of the two engines. <see cref="GenerationQueue"/> is its only caller, from one thread, so
/// one loaded model serves every client.
/// </summary>
public interface IDigitEngine : IDisposable
{
    /// <summary>The engine's name as the service reports it: <c>torchsharp</c> or <c>onnx</c>.</summary>
    string Name { get; }

    /// <summary>Classes the model was trained with (0: unconditional, requests carry label -1).</summary>
    int Classes { get; }

    /// <summary>Channels, height and width of an image.</summary>
    IReadOnlyList<int> ImageShape { get; }

    /// <summary>How the model samples by default (a copy).</summary>
    SamplingOptions Sampling { get; }

    /// <summary>Throws an <see cref="ArgumentException"/> naming the setting when <paramref name="sampling"/> does not suit the model.</summary>
    void Validate(SamplingOptions sampling);

    /// <summary>One image per (label, seed) under <paramref name="sampling"/>: rows x image size floats in [0, 1].</summary>
    float[] Generate(int[] labels, long[] seeds, SamplingOptions sampling);

    /// <summary>
    /// Opens <paramref name="path"/>: a folder is an exported ONNX folder (ONNX Runtime, no libtorch used), a file is an
    /// ML.NET model file of a digit generator (TorchSharp). <paramref name="engine"/> (<c>torchsharp</c>, <c>onnx</c>
    /// or null for the path's kind) must agree with the path.
    /// </summary>
    static IDigitEngine Open(string path, string? engine)
    {
        bool folder = Directory.Exists(path);
        if (!folder && !File.Exists(path))
            throw new FileNotFoundException($"Generator:Path '{path}' is neither a model file (model.zip) nor an exported ONNX folder.", path);
        string kind = string.IsNullOrWhiteSpace(engine) ? folder ? "onnx" : "torchsharp" : engine.Trim().ToLowerInvariant();
        return (kind, folder) switch
        {
            ("onnx", true) => new OnnxEngine(OnnxGenerator.Load(path)),
            ("torchsharp", false) => TorchSharpEngine.Load(path),
            ("onnx" or "torchsharp", _) => throw new ArgumentException(
                $"Generator:Engine '{kind}' needs {(kind == "onnx" ? "an exported ONNX folder" : "a model file")}, but Generator:Path '{path}' is a "
                + $"{(folder ? "folder" : "file")}."),
            _ => throw new ArgumentException($"Generator:Engine must be torchsharp or onnx, got '{engine}'."),
        };
    }
}
