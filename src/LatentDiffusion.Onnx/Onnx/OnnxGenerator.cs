using LatentDiffusion.MLNet;
using LatentDiffusion.Runtime;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;

namespace LatentDiffusion.Onnx;

/// <summary>
/// A generator exported by LatentDiffusion (<c>ExportOnnx</c>) sampled on ONNX Runtime, without TorchSharp: the same
/// requests (label, seed) give the full library's images, to within float32 rounding. The sampling loop is the full
/// library's: the exported sampler and grid, classifier-free guidance and autoguidance in their noise bands, the
/// objective read as (x0, eps), x0 clipped to the training range; each request's noise comes from a managed copy of
/// libtorch's generator seeded as the full library seeds it. Requests are sampled in batches of the exported batch
/// size. Thread-safe: calls are serialised.
/// </summary>
public sealed class OnnxGenerator : IDisposable
{
    private readonly ExportedModel model;
    private readonly InferenceSession denoiser;
    private readonly InferenceSession? autoguidance, decoder;
    private readonly ArraySamplers samplers;
    private readonly int dataSize;
    private readonly object gate = new();
    private readonly Dictionary<string, byte[]> files = [];

    private OnnxGenerator(ExportedModel model, Func<string, byte[]> read, SessionOptions? options)
    {
        this.model = model;
        dataSize = model.DataShape.Aggregate(1, (a, b) => a * b);
        InferenceSession Open(string file)
        {
            var bytes = files[file] = read(file);
            try
            {
                return options is null ? new InferenceSession(bytes) : new InferenceSession(bytes, options);
            }
            catch (Exception e) when (NativeLibraryMissing(e))
            {
                throw new InvalidOperationException("ONNX Runtime's native library was not found: add a native ONNX Runtime package to the app "
                    + "(Microsoft.ML.OnnxRuntime for the CPU, or a GPU or DirectML build); LatentDiffusion.Onnx brings only its managed API.", e);
            }
        }
        denoiser = Open(model.Denoiser);
        try
        {
            autoguidance = model.Sampling.AutoguidanceScale != 1 && model.Autoguidance is { } a ? Open(a) : null;
            decoder = model.Decoder is { } d ? Open(d) : null;
        }
        catch
        {
            Dispose();
            throw;
        }
        samplers = new ArraySamplers(model.AlphaBars);
    }

    /// <summary>Whether <paramref name="e"/> (or an exception inside it) says ONNX Runtime's native library could not be loaded.</summary>
    private static bool NativeLibraryMissing(Exception? e)
    {
        for (; e is not null; e = e.InnerException)
            if (e is DllNotFoundException) return true;
        return false;
    }

    /// <summary>
    /// Opens the files <c>ExportOnnx</c> wrote into <paramref name="folder"/>; <paramref name="options"/> choose ONNX
    /// Runtime's execution provider and threads (default: its CPU provider).
    /// </summary>
    public static OnnxGenerator Load(string folder, SessionOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(folder);
        string settings = Path.Combine(folder, ExportedModel.SettingsFile);
        if (!File.Exists(settings))
            throw new FileNotFoundException($"'{folder}' has no {ExportedModel.SettingsFile}: expected a folder written by ExportOnnx "
                + "(or the example app's export command).", settings);
        var model = ExportedModel.Parse(File.ReadAllText(settings), settings);
        return new OnnxGenerator(model, file =>
        {
            string path = Path.Combine(folder, file);
            if (!File.Exists(path))
                throw new FileNotFoundException($"'{folder}' has no {file}, which {ExportedModel.SettingsFile} names.", path);
            return File.ReadAllBytes(path);
        }, options);
    }

    /// <summary>A generator from a description and its files held elsewhere (an ML.NET model file).</summary>
    internal static OnnxGenerator Create(ExportedModel model, Func<string, byte[]> read, SessionOptions? options = null) => new(model, read, options);

    internal ExportedModel Model => model;

    /// <summary>The ONNX files by name, as read: what an ML.NET model file stores.</summary>
    internal IReadOnlyDictionary<string, byte[]> Files => files;

    /// <summary>Shape of the generated images: channels, height, width (or the data's shape for a model without a decoder).</summary>
    public IReadOnlyList<int> ImageShape => model.ImageShape ?? model.DataShape;

    /// <summary>Floats per generated image.</summary>
    public int ImageSize => ImageShape.Aggregate(1, (a, b) => a * b);

    /// <summary>Classes the model was trained with (0: unconditional; requests then carry label -1).</summary>
    public int Classes => model.Classes;

    /// <summary>The seed rows without a seed column derive theirs from.</summary>
    public int Seed => model.Seed;

    /// <summary>Requests per network batch.</summary>
    public int BatchSize => model.Sampling.BatchSize;

    /// <summary>The sampler and the number of its steps, as exported.</summary>
    public (string Sampler, int Steps) Sampler => (model.Sampling.Sampler, model.Sampling.Grid.Length);

    /// <summary>Generates one image per (label, seed), label -1 for an unconditional sample: rows x <see cref="ImageSize"/> floats in [0, 1].</summary>
    public float[] Generate(ReadOnlySpan<int> labels, ReadOnlySpan<long> seeds) => InBatches(labels, seeds, ImageSize, GenerateBatch);

    /// <summary>
    /// The diffusion model's samples before decoding, one per (label, seed): rows x <see cref="SampleShape"/> floats in
    /// data units (for a latent model, the latents the decoder takes; the full library's <c>LatentDiffusionTransformer.Sample</c>).
    /// </summary>
    public float[] Sample(ReadOnlySpan<int> labels, ReadOnlySpan<long> seeds) =>
        InBatches(labels, seeds, dataSize, (l, s, destination) => SampleData(l, s).CopyTo(destination));

    /// <summary>Checks the requests, then fills rows x <paramref name="rowSize"/> floats batch by batch.</summary>
    private float[] InBatches(ReadOnlySpan<int> labels, ReadOnlySpan<long> seeds, int rowSize, BatchAction fill)
    {
        RequestValidation.Check(labels, seeds.Length, model.Classes, "label");
        var result = new float[labels.Length * rowSize];
        for (int start = 0; start < labels.Length; start += BatchSize)
        {
            int n = Math.Min(BatchSize, labels.Length - start);
            fill(labels.Slice(start, n).ToArray(), seeds.Slice(start, n).ToArray(), result.AsSpan(start * rowSize, n * rowSize));
        }
        return result;
    }

    private delegate void BatchAction(int[] labels, long[] seeds, Span<float> destination);

    /// <summary>Shape of one sample before decoding (the latent's, or the image's for a model of pixels).</summary>
    public IReadOnlyList<int> SampleShape => model.DataShape;

    internal void GenerateBatch(int[] labels, long[] seeds, Span<float> destination)
    {
        var data = SampleData(labels, seeds);
        if (decoder is null)
        {
            for (int i = 0; i < data.Length; i++) destination[i] = Math.Clamp(data[i], 0f, 1f);
            return;
        }
        var decoded = Run(decoder, [NamedOnnxValue.CreateFromTensor("latents", new DenseTensor<float>(data, [labels.Length, .. model.DataShape]))]);
        decoded.CopyTo(destination);
    }

    /// <summary>The sampler's output in data units (the diffusion model's standardisation undone): the latents a decoder takes, or pixels.</summary>
    internal float[] SampleData(int[] labels, long[] seeds)
    {
        lock (gate)
        {
            int n = labels.Length;
            var generators = seeds.Select(s => new TorchCompatibleNormal(s)).ToArray();
            float[] Noise()
            {
                var values = new float[n * dataSize];
                for (int i = 0; i < n; i++) generators[i].Fill(values.AsSpan(i * dataSize, dataSize));
                return values;
            }
            var guidance = new GuidedDenoiser(this, labels);
            var x = samplers.Sample(model.Sampling, Noise(), guidance.Denoise, Noise);
            if (model.DataShift.Length > 0)
            {
                int perIndex = dataSize / model.DataShape[0];
                for (int i = 0; i < x.Length; i++)
                {
                    int c = i % dataSize / perIndex;
                    x[i] = x[i] * model.DataScale[c] + model.DataShift[c];
                }
            }
            return x;
        }
    }

    private static float[] Run(InferenceSession session, IReadOnlyCollection<NamedOnnxValue> inputs)
    {
        using var results = session.Run(inputs);
        return results.First().AsTensor<float>().ToArray();
    }

    /// <summary>The denoiser as the sampler sees it at one step: the predictions guidance needs, combined, read as (x0, eps), x0 clipped.</summary>
    private sealed class GuidedDenoiser(OnnxGenerator parent, int[] labels)
    {
        private readonly long[] conditional = labels.Select(l => (long)(l < 0 ? parent.model.NullClass : l)).ToArray();
        private readonly long[] unconditional = Enumerable.Repeat((long)parent.model.NullClass, labels.Length).ToArray();

        /// <summary>
        /// The network's predictions for the batch with each block of <paramref name="labelBlocks"/> (one block of
        /// labels per copy of the batch), in one pass.
        /// </summary>
        private float[] Predict(InferenceSession session, float[] x, int t, params long[][] labelBlocks)
        {
            var m = parent.model;
            int copies = labelBlocks.Length, n = labels.Length * copies;
            var input = x;
            if (copies > 1)
            {
                input = new float[x.Length * copies];
                for (int c = 0; c < copies; c++) x.CopyTo(input, c * x.Length);
            }
            var inputs = new List<NamedOnnxValue>
            {
                NamedOnnxValue.CreateFromTensor("x", new DenseTensor<float>(input, [n, .. m.DataShape])),
                NamedOnnxValue.CreateFromTensor("t", new DenseTensor<float>(Enumerable.Repeat((float)t, n).ToArray(), [n])),
            };
            if (m.Classes > 0) inputs.Add(NamedOnnxValue.CreateFromTensor("labels", new DenseTensor<long>(labelBlocks.SelectMany(b => b).ToArray(), [n])));
            return Run(session, inputs);
        }

        public (float[] X0, float[] Eps) Denoise(float[] x, int t)
        {
            var m = parent.model;
            var s = m.Sampling;
            // The base prediction sees the requested labels unless the model is unconditional or guidance is 0.
            var basis = m.Classes > 0 && s.GuidanceScale != 0 ? conditional : unconditional;
            bool guided = m.Classes > 0 && s.GuidanceScale is not (0 or 1) && NoiseBand.Contains(t, m.Timesteps, s.GuidanceMinNoise, s.GuidanceMaxNoise);
            float[] output, unconditionalOutput = [];
            if (guided)
            {
                // Both label sets in one pass, as the full library batches them; the basis is the conditional one.
                var both = Predict(parent.denoiser, x, t, conditional, unconditional);
                (output, unconditionalOutput) = (both[..x.Length], both[x.Length..]);
            }
            else
                output = Predict(parent.denoiser, x, t, basis);
            var conditionalOutput = output;
            bool first = true;
            // Autoguidance, then classifier-free guidance: the full library's order, and its two spellings of the same algebra.
            if (parent.autoguidance is not null)
            {
                if (NoiseBand.Contains(t, m.Timesteps, s.AutoguidanceMinNoise, s.AutoguidanceMaxNoise))
                    output = Extrapolate(output, output, Predict(parent.autoguidance, x, t, basis), s.AutoguidanceScale, first);
                first = false;
            }
            if (guided) output = Extrapolate(output, conditionalOutput, unconditionalOutput, s.GuidanceScale, first);
            return Interpret(output, x, t);
        }

        private static float[] Extrapolate(float[] current, float[] target, float[] anchor, double scale, bool first)
        {
            var result = new float[current.Length];
            float s = (float)scale, s1 = (float)(scale - 1);
            for (int i = 0; i < result.Length; i++)
                result[i] = first ? anchor[i] + s * (target[i] - anchor[i]) : current[i] + s1 * (target[i] - anchor[i]);
            return result;
        }

        private (float[] X0, float[] Eps) Interpret(float[] output, float[] x, int t)
        {
            var m = parent.model;
            double ab = m.AlphaBars[t];
            float a = (float)Math.Sqrt(ab), b = (float)Math.Sqrt(1 - ab);
            var x0 = new float[x.Length];
            var eps = new float[x.Length];
            switch (m.Objective)
            {
                case "Epsilon":
                    for (int i = 0; i < x.Length; i++) (x0[i], eps[i]) = ((x[i] - b * output[i]) / a, output[i]);
                    break;
                case "Sample":
                    for (int i = 0; i < x.Length; i++) (x0[i], eps[i]) = (output[i], (x[i] - a * output[i]) / b);
                    break;
                default:   // Velocity (the description's check admits nothing else)
                    for (int i = 0; i < x.Length; i++) (x0[i], eps[i]) = (a * x[i] - b * output[i], b * x[i] + a * output[i]);
                    break;
            }
            if (m.Sampling.ClipToDataRange && m.DataMin.Length > 0)
            {
                int perIndex = parent.dataSize / m.DataShape[0];
                for (int i = 0; i < x.Length; i++)
                {
                    int c = i % parent.dataSize / perIndex;
                    x0[i] = Math.Clamp(x0[i], m.DataMin[c], m.DataMax[c]);
                    eps[i] = (x[i] - a * x0[i]) / b;
                }
            }
            return (x0, eps);
        }
    }

    /// <summary>Closes the ONNX Runtime sessions.</summary>
    public void Dispose()
    {
        denoiser?.Dispose();
        autoguidance?.Dispose();
        decoder?.Dispose();
    }
}
