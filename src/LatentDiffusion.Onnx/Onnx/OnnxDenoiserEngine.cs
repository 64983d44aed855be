using LatentDiffusion.Diffusion;
using LatentDiffusion.Diffusion.Guidance;
using LatentDiffusion.Export;
using LatentDiffusion.Runtime;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;

namespace LatentDiffusion.Onnx;

/// <summary>
/// The ONNX Runtime engine's side of sampling one batch: the exported networks' predictions, and each request's noise
/// from a managed copy of libtorch's generator seeded as the TorchSharp engine seeds it
/// (<see cref="TorchCompatibleNormal"/>), so the same request gives the same image on both engines.
/// </summary>
internal sealed class OnnxDenoiserEngine : IDenoiserEngine<HostArray>
{
    private readonly Func<DenoiserRole, InferenceSession> networks;
    private readonly DiffusionProcess process;
    private readonly TorchCompatibleNormal[] generators;
    private readonly long[] conditional, unconditional;
    private readonly int dataSize;

    /// <param name="networks">The session of each role.</param>
    /// <param name="process">The model's process (shapes, classes).</param>
    /// <param name="labels">The requested labels; -1 asks for an unconditional sample.</param>
    /// <param name="seeds">Each request's seed.</param>
    public OnnxDenoiserEngine(Func<DenoiserRole, InferenceSession> networks, DiffusionProcess process, int[] labels, long[] seeds)
    {
        this.networks = networks;
        this.process = process;
        dataSize = process.DataSize;
        generators = [.. seeds.Select(s => new TorchCompatibleNormal(s))];
        conditional = [.. labels.Select(l => (long)(l < 0 ? process.Classes : l))];
        unconditional = Enumerable.Repeat((long)process.Classes, labels.Length).ToArray();
    }

    /// <summary>An array of <paramref name="values"/> (rows of one sample each) of this model's data.</summary>
    public HostArray Array(float[] values) => new(values, dataSize, process.DataShape[0]);

    public HostArray Noise()
    {
        var values = new float[generators.Length * dataSize];
        for (int i = 0; i < generators.Length; i++) generators[i].Fill(values.AsSpan(i * dataSize, dataSize));
        return Array(values);
    }

    public IReadOnlyList<HostArray> Predict(DenoiserRole network, HostArray x, int t, IReadOnlyList<bool> conditionalBlocks)
    {
        int copies = conditionalBlocks.Count, n = generators.Length * copies;
        var input = x.Values;
        if (copies > 1)
        {
            input = new float[x.Values.Length * copies];
            for (int c = 0; c < copies; c++) x.Values.CopyTo(input, c * x.Values.Length);
        }
        var inputs = new List<NamedOnnxValue>
        {
            NamedOnnxValue.CreateFromTensor(ExportedGraphs.Sample, new DenseTensor<float>(input, [n, .. process.DataShape])),
            NamedOnnxValue.CreateFromTensor(ExportedGraphs.Timestep, new DenseTensor<float>(Enumerable.Repeat((float)t, n).ToArray(), [n])),
        };
        if (process.Classes > 0)
            inputs.Add(NamedOnnxValue.CreateFromTensor(ExportedGraphs.Labels,
                new DenseTensor<long>(conditionalBlocks.SelectMany(c => c ? conditional : unconditional).ToArray(), [n])));
        var output = OnnxSessions.Run(networks(network), inputs);
        int size = x.Values.Length;
        return [.. Enumerable.Range(0, copies).Select(c => Array(copies == 1 ? output : output[(c * size)..((c + 1) * size)]))];
    }
}
