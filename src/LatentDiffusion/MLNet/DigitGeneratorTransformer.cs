using LatentDiffusion.Diffusion;
using LatentDiffusion.MLNet.Persistence;
using LatentDiffusion.Models;
using LatentDiffusion.Training;
using Microsoft.ML;
using Microsoft.ML.Data;
using Microsoft.ML.Runtime;
using static TorchSharp.torch;

namespace LatentDiffusion.MLNet;

/// <summary>
/// Request rows (optional label, optional seed) to images in [0,1]: diffusion samples decoded by the VAE, or the
/// samples themselves (clipped to [0,1]) for a model that learned pixels. Same seed and label, same image; requests
/// stream through in batches, so any number of rows can be generated with one batch in memory.
/// </summary>
public sealed class DigitGeneratorTransformer : ITransformer
{
    /// <summary>What is saved besides the weights (the <c>Config.json</c> block; see <see cref="ComponentFormats"/>).</summary>
    internal sealed record Settings
    {
        public string LabelColumn { get; init; } = "Label";
        public string SeedColumn { get; init; } = "Seed";
        public string OutputColumn { get; init; } = "GeneratedImage";
        public int Seed { get; init; }
        public SamplingOptions Sampling { get; init; } = new();
        public DiffusionModelConfig Model { get; init; } = new();
        /// <summary>The VAE that decodes the samples; null for a model that learned pixels.</summary>
        public VaeConfig? Vae { get; init; }
        public EpochRecord[] History { get; init; } = [];
        public EpochRecord[] AutoguidanceHistory { get; init; } = [];
    }

    private const string VaeStream = "Vae.weights";
    private readonly VaeModel? vae;
    private readonly DiffusionModel diffusion;
    private readonly Settings settings;

    private readonly IProgress<GenerationProgress>? progress;
    private long generated;

    internal DigitGeneratorTransformer(VaeModel? vae, DiffusionModel diffusion, Settings settings, IProgress<GenerationProgress>? progress = null)
    {
        this.progress = progress;
        OptionChecks.ColumnName(settings.SeedColumn, nameof(settings.SeedColumn), nameof(DigitGeneratorTransformer));
        OptionChecks.ColumnName(settings.OutputColumn, nameof(settings.OutputColumn), nameof(DigitGeneratorTransformer));
        if (vae is not null && !vae.LatentShape.SequenceEqual(diffusion.DataShape))
            throw new ArgumentException($"The diffusion model makes samples shaped [{string.Join(", ", diffusion.DataShape)}] but the VAE decodes latents shaped [{string.Join(", ", vae.LatentShape)}].");
        diffusion.Validate(settings.Sampling);
        this.vae = vae;
        this.diffusion = diffusion;
        this.settings = settings with { Model = diffusion.Config, Vae = vae?.Config };
    }

    internal static OutputColumn ImageColumn(string name, int[] shape) =>
        new(name, shape.Aggregate(1, (a, b) => a * b), shape.Length > 1 ? a => ShapeAnnotation.Add(a, shape) : null);

    /// <summary>How samples are drawn (a copy; use <see cref="WithSampling"/> to change).</summary>
    public SamplingOptions Sampling => settings.Sampling.Clone();
    /// <summary>Request label column (optional in the input).</summary>
    public string LabelColumnName => settings.LabelColumn;
    /// <summary>Request seed column (optional in the input).</summary>
    public string SeedColumnName => settings.SeedColumn;
    /// <summary>Output image column.</summary>
    public string OutputColumnName => settings.OutputColumn;
    /// <summary>Seed used when the input has no seed column.</summary>
    public int Seed => settings.Seed;
    /// <summary>Number of classes (0 = unconditional model).</summary>
    public int Classes => diffusion.Classes;
    /// <summary>The diffusion model's networks, schedule and objective.</summary>
    public DiffusionModelConfig DiffusionConfig => diffusion.Config;
    /// <summary>The VAE's architecture and latent standardisation; null for a model that learned pixels.</summary>
    public VaeConfig? VaeConfig => vae?.Config;
    /// <summary>Analytic FLOPs of one denoiser forward pass for one sample (for achieved-GFLOP/s benchmarks).</summary>
    public double DenoiserFlops => diffusion.Denoiser.ForwardFlops();
    /// <summary>Denoiser passes per generated image under <see cref="Sampling"/>: one per step, two on guided steps.</summary>
    public int DenoiserPassesPerSample => diffusion.Passes(settings.Sampling).Denoiser;
    /// <summary>Autoguidance denoiser passes per generated image under <see cref="Sampling"/> (0 without autoguidance).</summary>
    public int AutoguidancePassesPerSample => diffusion.Passes(settings.Sampling).Autoguidance;
    /// <summary>Width of the autoguidance denoiser, 0 when the model has none.</summary>
    public int AutoguidanceWidth => diffusion.Config.Autoguidance?.Width ?? 0;
    /// <summary>Analytic FLOPs of sampling one latent under <see cref="Sampling"/>: all denoiser passes.</summary>
    public double SamplingFlopsPerSample => diffusion.SamplingFlops(settings.Sampling);
    /// <summary>Shape of the generated images: channels, height, width.</summary>
    public IReadOnlyList<int> ImageShape => vae?.Config.ImageShape ?? diffusion.DataShape;
    /// <summary>Floats per generated image.</summary>
    public int ImageSize => vae?.ImageSize ?? diffusion.DataSize;

    /// <summary>The same models with other sampling settings (sampler, steps, guidance, batch size), checked against the model.</summary>
    public DigitGeneratorTransformer WithSampling(SamplingOptions sampling) => new(vae, diffusion, settings with { Sampling = sampling.Clone() }, progress);

    /// <summary>
    /// The same models, reporting to <paramref name="progress"/> after each batch they generate (through
    /// <see cref="Transform"/>, a row mapper or <see cref="Generate"/>) how many images they have generated so far.
    /// Generation through <see cref="Transform"/> is lazy: the images are made as the view is read.
    /// </summary>
    public DigitGeneratorTransformer WithProgress(IProgress<GenerationProgress>? progress) => new(vae, diffusion, settings, progress);

    /// <summary>Generates images directly: one per (label, seed); label -1 = unconditional. Returns rows x image size floats.</summary>
    public float[] Generate(ReadOnlySpan<int> labels, ReadOnlySpan<long> seeds)
    {
        RequestValidation.Check(labels, seeds.Length, Classes, LabelColumnName);
        var images = new float[labels.Length * ImageSize];
        int batch = settings.Sampling.BatchSize;
        for (int start = 0; start < labels.Length; start += batch)
        {
            int n = Math.Min(batch, labels.Length - start);
            GenerateBatch(labels.Slice(start, n).ToArray(), seeds.Slice(start, n).ToArray(), images.AsSpan(start * ImageSize, n * ImageSize));
        }
        return images;
    }

    /// <summary>
    /// The denoising trajectory for pictures: for each sampler step, the images decoded from the noisy state the step
    /// starts from (<c>Noisy</c>) and from the clean latent the denoiser predicts there (<c>Predicted</c>), each
    /// rows x image size floats; the last step's prediction is the final sample.
    /// </summary>
    public (float[] Noisy, float[] Predicted)[] Trajectory(ReadOnlySpan<int> labels, ReadOnlySpan<long> seeds)
    {
        RequestValidation.Check(labels, seeds.Length, Classes, LabelColumnName);
        var steps = new List<(float[], float[])>();
        diffusion.Sample(labels, seeds, settings.Sampling, (_, xt, x0) => steps.Add((Host(xt), Host(x0))));
        int rows = labels.Length;
        return steps.Select(s => (ToImages(s.Item1, rows), ToImages(s.Item2, rows))).ToArray();

        static float[] Host(Tensor t) => t.cpu().flatten().data<float>().ToArray();
    }

    private void GenerateBatch(int[] labels, long[] seeds, Span<float> destination)
    {
        // The latents stay on the model's device from the sampler to the decoder.
        using (var samples = diffusion.SampleOnDevice(labels, seeds, settings.Sampling))
            (vae is not null ? vae.Decode(samples) : Clip(samples.cpu().flatten().data<float>().ToArray())).CopyTo(destination);
        progress?.Report(new GenerationProgress(Interlocked.Add(ref generated, labels.Length)));
    }

    private static float[] Clip(float[] pixels)
    {
        for (int i = 0; i < pixels.Length; i++) pixels[i] = Math.Clamp(pixels[i], 0f, 1f);
        return pixels;
    }

    /// <summary>Diffusion samples as images in [0,1]: decoded by the VAE, or clipped pixels.</summary>
    private float[] ToImages(float[] samples, int rows) => vae is not null ? vae.Decode(samples, rows) : Clip(samples);

    /// <inheritdoc/>
    public bool IsRowToRowMapper => true;
    /// <inheritdoc/>
    public DataViewSchema GetOutputSchema(DataViewSchema inputSchema) => CreateMapper().OutputSchema(inputSchema);
    /// <inheritdoc/>
    public IRowToRowMapper GetRowToRowMapper(DataViewSchema inputSchema) => new BatchRowMapper(inputSchema, CreateMapper());
    /// <inheritdoc/>
    public IDataView Transform(IDataView input) => new BatchMappedDataView(input, CreateMapper());

    private RequestMapper CreateMapper() => new(LabelColumnName, SeedColumnName, Seed, Classes, settings.Sampling.BatchSize,
        [ImageColumn(OutputColumnName, ImageShape.ToArray())],
        (labels, seeds, output) => GenerateBatch(labels, seeds, output));

    void ICanSaveModel.Save(ModelSaveContext ctx) => ComponentCodec.Save(ctx, ComponentFormats.DigitGenerator,
        settings with { History = [.. diffusion.History.Epochs], AutoguidanceHistory = [.. diffusion.AutoguidanceHistory.Epochs] },
        [.. LatentDiffusionTransformer.Networks(diffusion), .. vae is null ? Array.Empty<(string, TorchSharp.torch.nn.Module)>() : [(VaeStream, vae.Network)]]);

    private static DigitGeneratorTransformer Create(IHostEnvironment env, object ctx)
    {
        var (streams, device) = ComponentCodec.Open(env, ctx, ComponentFormats.DigitGenerator);
        if (!streams.IsJson)
        {
            var (legacy, legacyDiffusion, legacyVae) = LegacyFormats.ReadDigitGenerator(streams, device);
            return ComponentErrors.Loading(() => new DigitGeneratorTransformer(legacyVae, legacyDiffusion, legacy), streams.Format, LegacyFormats.SettingsStream);
        }
        var settings = ComponentCodec.ReadSettings<Settings>(streams);
        var diffusion = LatentDiffusionTransformer.ReadModel(streams, settings.Model, settings.History, settings.AutoguidanceHistory, device);
        VaeModel? vae = null;
        if (settings.Vae is { } vaeConfig)
        {
            ComponentErrors.Loading(() => { ComponentCodec.CheckWeightsFit(streams, VaeStream, VaeModel.ParameterCount(vaeConfig)); return 0; }, streams.Format);
            vae = ComponentErrors.Loading(() => VaeModel.Build(vaeConfig, device, $"'{ComponentCodec.ConfigStream}'"), streams.Format);
            ComponentCodec.ReadWeights(streams, VaeStream, vae.Network);
        }
        return ComponentErrors.Loading(() => new DigitGeneratorTransformer(vae, diffusion, settings), streams.Format);
    }
}
