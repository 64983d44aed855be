using LatentDiffusion.Export;
using LatentDiffusion.MLNet;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;

namespace LatentDiffusion.Onnx;

/// <summary>
/// Opens the graphs of an exported folder and checks them against its description before anything is sampled: each
/// file's SHA-256, that ONNX Runtime can read it, that its inputs and outputs are the ones its role takes and give, with
/// the description's shapes, and that the denoiser accepts every class the description promises (one probe pass).
/// Every failure is a <see cref="ModelFileException"/> naming the file, the setting, the expected and the actual.
/// </summary>
internal static class OnnxSessions
{
    private const string Component = nameof(OnnxGenerator);

    /// <summary>Runs <paramref name="session"/> and returns its one output as floats.</summary>
    public static float[] Run(InferenceSession session, IReadOnlyCollection<NamedOnnxValue> inputs)
    {
        using var results = session.Run(inputs);
        return results.First().AsTensor<float>().ToArray();
    }

    /// <summary>Checks <paramref name="bytes"/> against <paramref name="file"/>'s recorded hash.</summary>
    public static void CheckHash(ExportedFile file, byte[] bytes, string settings)
    {
        if (file.Sha256 is null) return;
        string actual = ExportedModel.Hash(bytes);
        if (!string.Equals(actual, file.Sha256, StringComparison.OrdinalIgnoreCase))
            throw new ModelFileException(Component, file.Name, $"'{file.Name}' has SHA-256 {actual}, but {settings} records {file.Sha256} for it: the "
                + "file was changed or damaged after the export. Export the model again.");
    }

    /// <summary>A session over <paramref name="bytes"/>, or an error naming the file.</summary>
    public static InferenceSession Open(ExportedFile file, byte[] bytes, SessionOptions? options)
    {
        try
        {
            return options is null ? new InferenceSession(bytes) : new InferenceSession(bytes, options);
        }
        catch (Exception e) when (NativeLibraryMissing(e))
        {
            throw new InvalidOperationException("ONNX Runtime's native library was not found: add a native ONNX Runtime package to the app "
                + "(Microsoft.ML.OnnxRuntime for the CPU, or a GPU or DirectML build); LatentDiffusion.Onnx brings only its managed API.", e);
        }
        catch (OnnxRuntimeException e)
        {
            throw new ModelFileException(Component, file.Name, $"'{file.Name}' is not an ONNX model ONNX Runtime can read: {ErrorText.OneLine(e)}", e);
        }
    }

    /// <summary>Whether <paramref name="e"/> (or an exception inside it) says ONNX Runtime's native library could not be loaded.</summary>
    private static bool NativeLibraryMissing(Exception? e)
    {
        for (; e is not null; e = e.InnerException)
            if (e is DllNotFoundException) return true;
        return false;
    }

    /// <summary>
    /// Checks a denoiser's inputs and output against the description, then runs it once on one sample at the null class
    /// (the largest class index it is given) to check that it accepts every class.
    /// </summary>
    public static void CheckDenoiser(InferenceSession session, ExportedFile file, ExportedModel model, string settings)
    {
        var process = model.Process;
        int[] sample = [-1, .. process.DataShape];
        var inputs = new List<(string, int[], string?)> { (ExportedGraphs.Sample, sample, DataShape), (ExportedGraphs.Timestep, [-1], null) };
        if (process.Classes > 0) inputs.Add((ExportedGraphs.Labels, [-1], null));
        CheckSignature(session, file, inputs, (ExportedGraphs.Prediction, sample, DataShape), settings, $"a denoiser of {process.Classes} classes");
        var probe = new List<NamedOnnxValue>
        {
            NamedOnnxValue.CreateFromTensor(ExportedGraphs.Sample, new DenseTensor<float>(new float[process.DataSize], [1, .. process.DataShape])),
            NamedOnnxValue.CreateFromTensor(ExportedGraphs.Timestep, new DenseTensor<float>(new float[1], [1])),
        };
        if (process.Classes > 0)
            probe.Add(NamedOnnxValue.CreateFromTensor(ExportedGraphs.Labels, new DenseTensor<long>(new long[] { process.Classes }, [1])));
        try
        {
            Run(session, probe);
        }
        catch (OnnxRuntimeException e)
        {
            throw new ModelFileException(Component, file.Name, $"'{file.Name}' fails on one sample with label {process.Classes}, the null class of the "
                + $"{process.Classes} classes {settings} gives (classes): it was not exported with that many classes. ONNX Runtime: {ErrorText.OneLine(e)}", e);
        }
    }

    /// <summary>Checks a decoder's input and output against the description.</summary>
    public static void CheckDecoder(InferenceSession session, ExportedFile file, ExportedModel model, string settings) =>
        CheckSignature(session, file, [(ExportedGraphs.Latents, [-1, .. model.Process.DataShape], DataShape)],
            (ExportedGraphs.Images, [-1, .. model.ImageShape!], "imageShape"), settings, "a decoder");

    /// <summary>The setting that gives a graph's sample shape.</summary>
    private const string DataShape = "process.dataShape";

    private static void CheckSignature(InferenceSession session, ExportedFile file, List<(string Name, int[] Shape, string? Setting)> inputs,
        (string Name, int[] Shape, string? Setting) output, string settings, string role)
    {
        string Names(IEnumerable<string> names) => $"[{string.Join(", ", names)}]";
        var actualInputs = session.InputMetadata.Keys.ToList();
        if (!actualInputs.Order().SequenceEqual(inputs.Select(i => i.Name).Order()))
            throw new ModelFileException(Component, file.Name, $"'{file.Name}' takes the inputs {Names(actualInputs)}, but {role} as {settings} "
                + $"describes it takes {Names(inputs.Select(i => i.Name))}: the file is not the graph {settings} names.");
        foreach (var (name, shape, setting) in inputs)
            CheckShape(file, $"input '{name}'", session.InputMetadata[name].Dimensions, shape, settings, setting);
        if (session.OutputMetadata.Count != 1 || !session.OutputMetadata.ContainsKey(output.Name))
            throw new ModelFileException(Component, file.Name, $"'{file.Name}' gives the outputs {Names(session.OutputMetadata.Keys)}, but {role} gives "
                + $"one output, '{output.Name}'.");
        CheckShape(file, $"output '{output.Name}'", session.OutputMetadata[output.Name].Dimensions, output.Shape, settings, output.Setting);
    }

    /// <summary>
    /// Checks a graph's input or output shape (batch first) against the description's; <paramref name="setting"/> names
    /// the setting that gives the rest, or null for a batch-only input.
    /// </summary>
    private static void CheckShape(ExportedFile file, string what, int[] actual, int[] expected, string settings, string? setting)
    {
        static string Shape(IEnumerable<int> dims) => $"[{string.Join(", ", dims.Select(d => d < 0 ? "batch" : d.ToString()))}]";
        bool agree = actual.Length == expected.Length && actual.Zip(expected).All(p => p.Second < 0 || p.First == p.Second);
        if (agree) return;
        string described = setting is null ? $"{settings} describes {Shape(expected)}"
            : $"{setting} in {settings} is {Shape(expected.Skip(1))} (so {Shape(expected)} with the batch)";
        throw new ModelFileException(Component, file.Name, $"'{file.Name}' has {what} shaped {Shape(actual)}, but {described}: the description and "
            + "the graph must agree. Export the model again.");
    }
}
