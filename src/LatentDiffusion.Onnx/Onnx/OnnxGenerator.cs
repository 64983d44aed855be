using LatentDiffusion.Diffusion;
using LatentDiffusion.Diffusion.Guidance;
using LatentDiffusion.Export;
using LatentDiffusion.MLNet;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;

namespace LatentDiffusion.Onnx;

/// <summary>
/// A generator exported by LatentDiffusion (<c>ExportOnnx</c>) sampled on ONNX Runtime, without TorchSharp: the same
/// requests (label, seed) give the TorchSharp engine's images, to within float32 rounding. The sampling is the core's
/// (<see cref="SamplingLoop"/>: the exported sampler with its settings, classifier-free guidance and autoguidance in
/// their noise bands, the objective read as (x0, eps), x0 clipped to the training range) over float arrays; each
/// request's noise comes from a managed copy of libtorch's generator seeded as the TorchSharp engine seeds it. Requests
/// are sampled in batches of the exported batch size. Opening a folder checks every file against its description.
/// Thread-safe: calls are serialised.
/// </summary>
public sealed class OnnxGenerator : IDisposable
{
    private readonly ExportedModel model;
    private readonly NoiseSchedule schedule;
    private readonly InferenceSession denoiser;
    private readonly InferenceSession? autoguidance, decoder;
    private readonly object gate = new();
    private readonly Dictionary<string, byte[]> files = [];

    private OnnxGenerator(ExportedModel model, Func<string, byte[]> read, SessionOptions? options, string settings)
    {
        this.model = model;
        schedule = model.Process.CreateSchedule();
        InferenceSession Open(ExportedFile file)
        {
            var bytes = files[file.Name] = read(file.Name);
            OnnxSessions.CheckHash(file, bytes, settings);
            return OnnxSessions.Open(file, bytes, options);
        }
        denoiser = Open(model.Denoiser);
        try
        {
            OnnxSessions.CheckDenoiser(denoiser, model.Denoiser, model, settings);
            if (model.Autoguidance is { } weak)
            {
                autoguidance = Open(weak);
                OnnxSessions.CheckDenoiser(autoguidance, weak, model, settings);
            }
            if (model.Decoder is { } d)
            {
                decoder = Open(d);
                OnnxSessions.CheckDecoder(decoder, d, model, settings);
            }
        }
        catch
        {
            Dispose();
            throw;
        }
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
        ExportedModel model;
        try
        {
            model = ExportedModel.Parse(File.ReadAllText(settings), settings);
        }
        catch (InvalidDataException e)
        {
            throw new ModelFileException(nameof(OnnxGenerator), ExportedModel.SettingsFile, ErrorText.OneLine(e), e);
        }
        return new OnnxGenerator(model, file =>
        {
            string path = Path.Combine(folder, file);
            if (!File.Exists(path))
                throw new ModelFileException(nameof(OnnxGenerator), file, $"'{folder}' has no {file}, which {ExportedModel.SettingsFile} names.");
            return File.ReadAllBytes(path);
        }, options, $"'{settings}'");
    }

    /// <summary>
    /// A generator from a description and its files held elsewhere (an ML.NET model file); <paramref name="settings"/>
    /// names the description.
    /// </summary>
    internal static OnnxGenerator Create(ExportedModel model, Func<string, byte[]> read, string settings, SessionOptions? options = null) =>
        new(model, read, options, settings);

    internal ExportedModel Model => model;

    /// <summary>The ONNX files by name, as read: what an ML.NET model file stores.</summary>
    internal IReadOnlyDictionary<string, byte[]> Files => files;

    /// <summary>Shape of the generated images: channels, height, width (or the data's shape for a model without a decoder).</summary>
    public IReadOnlyList<int> ImageShape => model.ImageShape ?? model.Process.DataShape;

    /// <summary>Floats per generated image.</summary>
    public int ImageSize => ImageShape.Aggregate(1, (a, b) => a * b);

    /// <summary>Classes the model was trained with (0: unconditional; requests then carry label -1).</summary>
    public int Classes => model.Process.Classes;

    /// <summary>The seed rows without a seed column derive theirs from.</summary>
    public int Seed => model.Seed;

    /// <summary>Requests per network batch.</summary>
    public int BatchSize => model.Sampling.BatchSize;

    /// <summary>How the exported model samples: the sampler with its settings, guidance, batch size (a copy).</summary>
    public SamplingOptions Sampling => model.Sampling.Clone();

    /// <summary>Network passes per sample, of the denoiser and of the autoguidance denoiser, counted by the rule sampling follows.</summary>
    public (int Denoiser, int Autoguidance) Passes => new GuidancePlan(model.Sampling, Classes).Passes(model.Sampling.Sampler, schedule);

    /// <summary>Generates one image per (label, seed), label -1 for an unconditional sample: rows x <see cref="ImageSize"/> floats in [0, 1].</summary>
    public float[] Generate(ReadOnlySpan<int> labels, ReadOnlySpan<long> seeds) => InBatches(labels, seeds, ImageSize, GenerateBatch);

    /// <summary>
    /// Generates as <see cref="Generate(ReadOnlySpan{int}, ReadOnlySpan{long})"/> with other sampling settings than the
    /// exported ones (another sampler, step count or guidance; the same networks), as the TorchSharp engine's
    /// <c>WithSampling</c> does. The settings are checked against the model first.
    /// </summary>
    public float[] Generate(ReadOnlySpan<int> labels, ReadOnlySpan<long> seeds, SamplingOptions sampling)
    {
        ArgumentNullException.ThrowIfNull(sampling);
        var chosen = sampling.Clone();
        chosen.Validate(model.Process);
        return InBatches(labels, seeds, ImageSize, (l, s, destination) => GenerateBatch(l, s, destination, chosen), chosen.BatchSize);
    }

    /// <summary>
    /// The diffusion model's samples before decoding, one per (label, seed): rows x <see cref="SampleShape"/> floats in
    /// data units (for a latent model, the latents the decoder takes; the TorchSharp engine's <c>LatentDiffusionTransformer.Sample</c>).
    /// </summary>
    public float[] Sample(ReadOnlySpan<int> labels, ReadOnlySpan<long> seeds) =>
        InBatches(labels, seeds, model.Process.DataSize, (l, s, destination) => SampleData(l, s).CopyTo(destination));

    /// <summary>Checks the requests, then fills rows x <paramref name="rowSize"/> floats batch by batch.</summary>
    private float[] InBatches(ReadOnlySpan<int> labels, ReadOnlySpan<long> seeds, int rowSize, BatchAction fill, int? batchSize = null)
    {
        int size = batchSize ?? BatchSize;
        RequestValidation.Check(labels, seeds.Length, Classes, "label");
        var result = new float[labels.Length * rowSize];
        for (int start = 0; start < labels.Length; start += size)
        {
            int n = Math.Min(size, labels.Length - start);
            fill(labels.Slice(start, n).ToArray(), seeds.Slice(start, n).ToArray(), result.AsSpan(start * rowSize, n * rowSize));
        }
        return result;
    }

    private delegate void BatchAction(int[] labels, long[] seeds, Span<float> destination);

    /// <summary>Shape of one sample before decoding (the latent's, or the image's for a model of pixels).</summary>
    public IReadOnlyList<int> SampleShape => model.Process.DataShape;

    internal void GenerateBatch(int[] labels, long[] seeds, Span<float> destination) => GenerateBatch(labels, seeds, destination, model.Sampling);

    private void GenerateBatch(int[] labels, long[] seeds, Span<float> destination, SamplingOptions sampling)
    {
        var data = SampleData(labels, seeds, sampling);
        if (decoder is null)
        {
            for (int i = 0; i < data.Length; i++) destination[i] = Math.Clamp(data[i], 0f, 1f);
            return;
        }
        var latents = new DenseTensor<float>(data, [labels.Length, .. model.Process.DataShape]);
        OnnxSessions.Run(decoder, [NamedOnnxValue.CreateFromTensor(ExportedGraphs.Latents, latents)]).CopyTo(destination);
    }

    /// <summary>The sampler's output in data units (the diffusion model's standardisation undone): the latents a decoder takes, or pixels.</summary>
    internal float[] SampleData(int[] labels, long[] seeds, SamplingOptions? sampling = null)
    {
        lock (gate)
        {
            var engine = new OnnxDenoiserEngine(role => role == DenoiserRole.Main ? denoiser : autoguidance!, model.Process,
                model.Process.RequestLabels(labels, seeds), seeds);
            return SamplingLoop.Run(engine, model.Process, schedule, sampling ?? model.Sampling).Values;
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
